from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.auth.schemas import Email
from app.core import clock
from app.core.errors import NON_BLANK_PATTERN
from app.core.inputs import RequestModel
from app.core.pagination import Page
from app.core.responses import Row

DEFAULT_TTL = 604800  # 7 days
MIN_TTL, MAX_TTL = 60, 2592000  # 1 minute .. 30 days
MIN_PASSWORD = 12

Ttl = Annotated[int, Field(ge=MIN_TTL, le=MAX_TTL,
                           description=f"Link lifetime in seconds, {MIN_TTL}..{MAX_TTL}")]
InvitedRole = Literal["admin", "member", "viewer"]
InvitationStatus = Literal["pending", "expired", "accepted", "revoked"]


class InvitationCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    role: InvitedRole = "member"
    team_id: UUID | None = Field(None, description="Add the new member to this team on accept")
    ttl_seconds: Ttl = DEFAULT_TTL


class InvitationResend(RequestModel):
    model_config = ConfigDict(extra="forbid")
    ttl_seconds: Ttl | None = Field(None, description="Default: the invitation's own lifetime")


class InvitationOut(BaseModel):
    id: UUID
    email: str
    role: InvitedRole
    team_id: UUID | None
    team_name: str | None
    status: InvitationStatus
    expires_at: datetime
    created_at: datetime
    invited_by: UUID | None
    sent_count: int
    last_sent_at: datetime | None
    accepted_at: datetime | None
    accepted_user_id: UUID | None
    revoked_at: datetime | None
    revoked_reason: str | None = Field(
        None, description="admin (revoked through the API) or superseded_by_scim (the "
                          "identity provider provisioned the address)")


class InvitationList(Page[InvitationOut]):
    """A page of InvitationOut."""


class InvitationAccept(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           pattern=NON_BLANK_PATTERN,
                                           max_length=200)] | None = None
    password: Annotated[str, StringConstraints(min_length=MIN_PASSWORD, max_length=1024)] | None \
        = Field(None, description=f"At least {MIN_PASSWORD} characters; omit to sign in "
                                  "through your identity provider or the returned tokens only")


class AcceptedUser(BaseModel):
    id: UUID
    email: str | None
    user_name: str
    name: str | None
    role: InvitedRole


class InvitationAccepted(BaseModel):
    user: AcceptedUser
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int
    team_id: UUID | None = Field(description="The team joined, if the invitation named one")


def status_of(row: Row, now: datetime) -> str:
    if row["accepted_at"] is not None:
        return "accepted"
    if row["revoked_at"] is not None:
        return "revoked"
    return "pending" if row["expires_at"] > now else "expired"


def invitation_out(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "email": row["email"], "role": row["role"],
            "team_id": row["team_id"], "team_name": row["team_name"],
            "status": status_of(row, clock.now()), "expires_at": row["expires_at"],
            "created_at": row["created_at"], "invited_by": row["invited_by"],
            "sent_count": row["sent_count"], "last_sent_at": row["last_sent_at"],
            "accepted_at": row["accepted_at"], "accepted_user_id": row["accepted_user_id"],
            "revoked_at": row["revoked_at"], "revoked_reason": row["revoked_reason"]}
