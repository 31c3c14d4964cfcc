from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.auth.schemas import Email
from app.core.inputs import RequestModel
from app.teams.schemas import Pagination

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


class InvitationList(BaseModel):
    data: list[InvitationOut]
    pagination: Pagination


class InvitationAccept(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
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
