from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool

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


class OwnerIdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    managed_by_idp: StrictBool = Field(
        description="true: SCIM may change the owner's userName, emails and externalId (the "
                    "owner's sign-in identity); false (default): SCIM gets 400 mutability")


class OwnerIdentityOut(BaseModel):
    managed_by_idp: bool
    owner_id: UUID | None
    updated_at: datetime
