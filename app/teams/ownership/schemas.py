from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.core.inputs import RequestModel
from app.core.responses import Row


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


def owner_identity_out(row: Row) -> dict[str, Any]:
    return {"managed_by_idp": row["owner_managed_by_idp"], "owner_id": row["owner_id"],
            "updated_at": row["updated_at"]}


def tenant_out(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "slug": row["slug"], "name": row["name"], "plan": row["plan"],
            "seat_limit": row["seat_limit"], "owner_id": row["owner_id"],
            "created_at": row["created_at"]}
