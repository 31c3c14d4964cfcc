from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core import clock
from app.core.inputs import RequestModel, Timestamp
from app.core.pagination import Page
from app.core.responses import Row

Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
CidrText = Annotated[str, StringConstraints(min_length=1, max_length=64)]

ScopeField = Literal["all", "users", "scim"]
ModeField = Literal["enforce", "report_only"]
SCOPE_DOC = ("Which credentials the entry applies to: all (default), users (sessions, API keys, "
             "login, invitations) or scim (the tenant's SCIM tokens, i.e. your IdP)")
MODE_DOC = ("enforce (default): part of the list that refuses; report_only: part of the "
            "candidate list, evaluated on live traffic without refusing anything (see "
            "GET .../report and POST .../promote)")

FORCE = Field(False, description="Apply the change even if it would refuse your own current "
                                 "address (otherwise 409 would_lock_out_caller)")


class EntryCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    cidr: CidrText = Field(description="IPv4 or IPv6 network (`203.0.113.0/24`, "
                                       "`2001:db8::/32`); a bare address means /32 or /128")
    description: Description | None = None
    expires_at: Timestamp | None = Field(None, description="Optional expiry (future, with "
                                                               "zone); expired entries stop "
                                                               "allowing but stay listed")
    scope: ScopeField = Field("all", description=SCOPE_DOC)
    mode: ModeField = Field("enforce", description=MODE_DOC)
    force: bool = FORCE


class EntryUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    description: Description | None = None
    expires_at: Timestamp | None = Field(None, description="New expiry; null removes it. A "
                                                               "past time expires the entry now")
    scope: ScopeField | None = Field(None, description=SCOPE_DOC)
    mode: ModeField | None = Field(None, description="Move the entry between the enforced "
                                                     "and the candidate list (audited)")
    force: bool = FORCE


class EntryDelete(RequestModel):
    model_config = ConfigDict(extra="forbid")
    force: bool = FORCE


class EntryOut(BaseModel):
    id: UUID
    cidr: str
    description: str | None
    expires_at: datetime | None
    expired: bool = Field(description="expires_at has passed: the entry no longer allows")
    scope: ScopeField = Field(description=SCOPE_DOC)
    mode: ModeField = Field(description=MODE_DOC)
    created_by: UUID | None
    created_at: datetime
    updated_at: datetime



class EntryList(Page[EntryOut]):
    """A page of EntryOut."""


class CheckIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    ip: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="An IPv4 or IPv6 address")
    credential: Literal["users", "scim"] = Field(
        "users", description="Check it for user credentials (default) or for SCIM tokens")
    mode: ModeField = Field("enforce", description="Check it against the enforced list "
                                                   "(default) or the candidate list")


class CheckOut(BaseModel):
    ip: str = Field(description="The address as matched (IPv4-mapped IPv6 becomes IPv4)")
    allowed: bool
    reason: Literal["no_entries", "entry", "bypass", "not_listed"] = Field(
        description="no_entries: the list is empty (open); entry: a live entry contains it; "
                    "bypass: an operator network (DRIFT_IP_ALLOWLIST_BYPASS_CIDRS); "
                    "not_listed: refused")
    entry: EntryOut | None = Field(description="The most specific live entry that allows it")


class PromoteIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    force: bool = FORCE


class PromoteOut(BaseModel):
    status: Literal["promoted"]
    promoted: int = Field(description="Report-only entries that now enforce")
    removed: int = Field(description="Previously enforced entries that were removed")


class ReportRow(BaseModel):
    id: UUID
    credential_type: Literal["session", "api_key", "scim_token", "login"]
    ip: str | None
    user_id: UUID | None = Field(description="The user (null for SCIM tokens and logins)")
    count: int = Field(description="Requests the candidate list would have refused (the "
                                   "current minute's may not be counted yet)")
    first_seen: datetime
    last_seen: datetime


class ReportList(Page[ReportRow]):
    """A page of ReportRow, most recently seen first."""


class ResetRequested(BaseModel):
    status: Literal["email_sent"]
    sent_to: str
    expires_at: datetime


class ResetDone(BaseModel):
    status: Literal["cleared"]
    cleared: int = Field(description="How many entries were removed")


def entry_out(row: Row, now: datetime | None = None) -> dict[str, Any]:
    now = now or clock.now()
    expires_at = row["expires_at"]
    return {"id": row["id"], "cidr": str(row["cidr"]), "description": row["description"],
            "expires_at": expires_at, "expired": expires_at is not None and expires_at <= now,
            "scope": row["scope"], "mode": row["mode"],
            "created_by": row["created_by"], "created_at": row["created_at"],
            "updated_at": row["updated_at"]}


def report_out(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "credential_type": row["credential_type"],
            "ip": str(row["ip"]) if row["ip"] is not None else None, "user_id": row["user_id"],
            "count": row["count"], "first_seen": row["first_seen"],
            "last_seen": row["last_seen"]}
