from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from app.core.inputs import RequestModel
from app.teams.schemas import Pagination

TenantRole = Literal["owner", "admin", "member", "viewer"]


class MemberUser(BaseModel):
    id: UUID
    email: str | None
    user_name: str
    name: str | None


class MemberTeam(BaseModel):
    id: UUID
    name: str
    role: Literal["lead", "member"]


class MemberOut(BaseModel):
    user: MemberUser
    role: TenantRole
    status: Literal["active", "deactivated"]
    last_active_at: datetime | None
    deactivated_at: datetime | None
    created_at: datetime
    teams: list[MemberTeam]


class MemberList(BaseModel):
    data: list[MemberOut]
    pagination: Pagination


class MemberUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    role: TenantRole = Field(description="admin, member or viewer. The owner role moves only "
                                         "with POST /api/v1/settings/transfer-ownership.")


class SeatCount(BaseModel):
    active: int = Field(description="Active members (the owner included)")
    pending_invites: int = Field(description="Invitations neither accepted, revoked nor "
                                             "expired: each holds a seat")
    seat_limit: int | None = Field(description="The plan's seat limit; null = unlimited")
    remaining: int | None = Field(description="Seats left; null = unlimited")
