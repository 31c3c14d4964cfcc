from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from app.core.inputs import RequestModel
from app.core.pagination import Page
from app.core.responses import Row

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


class MemberList(Page[MemberOut]):
    """A page of MemberOut."""


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


def member_out(row: Row) -> dict[str, Any]:
    return {"user": {"id": row["id"], "email": row["email"], "user_name": row["user_name"],
                     "name": row["display_name"]},
            "role": row["role"], "status": "active" if row["active"] else "deactivated",
            "last_active_at": row["last_active_at"], "deactivated_at": row["deprovisioned_at"],
            "created_at": row["created_at"], "teams": row["teams"]}
