"""Pydantic shapes of the audit API (documentation and input validation).

Event JSON is produced by PostgreSQL (repository.EVENT_JSON) so the query, the NDJSON export
and the live stream emit byte-for-byte the same object; AuditEventOut documents it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from app.core.inputs import RequestModel


class ActorOut(BaseModel):
    type: Literal["user", "api_key", "scim", "system"]
    id: UUID | None = Field(None, description="User id (user and API key actors), SCIM token "
                                              "id (scim), null for the system")
    email: str | None = Field(None, description="The actor's email when the event happened")


class ResourceOut(BaseModel):
    type: str
    id: str | None


class AuditEventOut(BaseModel):
    id: UUID
    created_at: datetime = Field(description="When the event was recorded (UTC, microseconds)")
    actor: ActorOut
    action: str = Field(description="`resource.verb`, e.g. `project.delete`")
    resource: ResourceOut
    outcome: Literal["success", "failure", "denied"]
    ip: str | None
    user_agent: str | None
    request_id: str | None
    metadata: dict[str, object]
    seq: int = Field(description="Position in the tenant's log: 1, 2, 3, ... in commit order")
    hash: str = Field(description="Hex SHA-256 chain hash: sha256(previous hash || canonical "
                                  "event); see GET /api/v1/audit/verify")


class AuditPagination(BaseModel):
    cursor: str | None = Field(description="Pass as `cursor` for the next page. With "
                                           "`order=asc` it is always set, so you can poll.")
    has_more: bool
    total: int = Field(description="Events matching the filters (exact up to 1,000; see "
                                   "`total_capped`)")
    total_capped: bool = Field(False, description="True when there are more than `total`")


class AuditPage(BaseModel):
    data: list[AuditEventOut]
    pagination: AuditPagination


class ChainBreak(BaseModel):
    seq: int | None
    id: UUID | None
    created_at: datetime | None
    reason: Literal["hash_mismatch", "chain_broken", "missing_events", "head_mismatch"]
    detail: str
    expected: str | None = None
    actual: str | None = None


class ChainPoint(BaseModel):
    seq: int
    hash: str


class VerifyOut(BaseModel):
    valid: bool
    checked: int = Field(description="Events whose hash was recomputed")
    first_break: ChainBreak | None
    from_seq: int | None
    to_seq: int | None
    head: ChainPoint | None = Field(description="The newest event of the log")
    boundary: ChainPoint | None = Field(description="The newest event removed by retention; "
                                                    "the oldest kept event links to its hash")


class RetentionPolicyOut(BaseModel):
    plan: Literal["free", "pro", "team", "enterprise"]
    days: int = Field(description="Events older than this many days are deleted daily")
    default_days: int = Field(description="The plan's default")
    custom_days: int | None = Field(description="Enterprise only: the tenant's own setting")
    configurable: bool = Field(description="Whether the owner can change it (enterprise)")
    min_days: int
    max_days: int
    oldest_event_at: datetime | None
    retained_through_seq: int = Field(description="Events up to this position were removed "
                                                  "by retention (0: none yet)")
    last_purge_at: datetime | None


class RetentionUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    days: StrictInt | None = Field(
        description="365..3650, or null for the plan default (730)")


class StreamTicketOut(BaseModel):
    ticket: str = Field(description="Pass as `?ticket=` to GET /api/v1/audit/stream; shown once")
    expires_at: datetime = Field(description="The ticket works once, until this time")
