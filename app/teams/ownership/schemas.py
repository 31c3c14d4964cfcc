from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from app.core.inputs import RequestModel


class TransferOwnership(RequestModel):
    model_config = ConfigDict(extra="forbid")
    new_owner_id: UUID = Field(description="An active member of the tenant")


class TenantOut(BaseModel):
    id: UUID
    slug: str
    name: str
    plan: str
    seat_limit: int | None
    owner_id: UUID | None
    created_at: datetime
