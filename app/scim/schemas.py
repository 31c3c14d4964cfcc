"""Pydantic models of the admin REST API (/api/v1/settings/scim)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints

from app.core.errors import NON_BLANK_PATTERN
from app.core.inputs import RequestModel
from app.core.pagination import Page
from app.core.principal import Role
from app.core.responses import Row
from app.scim.constants import URN_CUSTOM
from app.scim.custom import MAX_ATTRIBUTES, NAME_PATTERN, CustomType

TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             pattern=NON_BLANK_PATTERN,
                                             max_length=100)]
GroupName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             pattern=NON_BLANK_PATTERN,
                                             max_length=200)]


class ScimTokenCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: TokenName = Field("SCIM token", description="A label, e.g. the identity provider")


class ScimTokenOut(BaseModel):
    id: UUID
    name: str
    prefix: str = Field(description="dcs_ and the first 8 characters, to recognise the token")
    created_by: UUID | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    status: Literal["active", "revoked"]


class ScimTokenCreated(ScimTokenOut):
    token: str = Field(description="The SCIM bearer token. Shown once; store it in the "
                                   "identity provider now.")



class ScimTokenList(Page[ScimTokenOut]):
    """A page of ScimTokenOut."""


class GroupMapping(RequestModel):
    model_config = ConfigDict(extra="forbid")
    group: GroupName = Field(description="The IdP group's displayName (case-insensitive)")
    role: Role = Field(description="owner maps to admin: SCIM never makes or unmakes the owner")


class GroupMappingsIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    mappings: list[GroupMapping] = Field(max_length=200,
                                         description="The complete new set of mappings")


class GroupMappingOut(BaseModel):
    group: str
    role: Role
    created_at: datetime


class GroupMappingList(Page[GroupMappingOut]):
    """A page of GroupMappingOut."""


class RoleChange(BaseModel):
    user_id: UUID
    user_name: str | None = Field(description="The user's userName")
    from_: Role = Field(alias="from")
    to: Role


class GroupMappingPreview(BaseModel):
    dry_run: Literal[True]
    mappings: list[GroupMapping] = Field(description="The mappings as sent (not saved)")
    role_changes: list[RoleChange] = Field(description="What saving them would change now")


def preview_out(items: list[GroupMapping], rows: list[Row]) -> dict[str, Any]:
    return {"dry_run": True,
            "mappings": [{"group": i.group, "role": i.role.value} for i in items],
            "role_changes": [{"user_id": r["id"], "user_name": r["user_name"],
                              "from": r["old_role"], "to": r["new_role"]} for r in rows]}


def token_out(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "prefix": row["prefix"],
            "created_by": row["created_by"], "created_at": row["created_at"],
            "last_used_at": row["last_used_at"], "revoked_at": row["revoked_at"],
            "status": "revoked" if row["revoked_at"] else "active"}


def mapping_out(row: Row) -> dict[str, Any]:
    return {"group": row["group_name"], "role": row["role"], "created_at": row["created_at"]}


# ---- the mass-deprovision breaker (docs/scim.md, "Mass-deprovision breaker") ----

def _json_integer(value: Any) -> Any:
    """A JSON number only (1389.0 is an integer in JSON Schema; "5" and true are not)."""
    if isinstance(value, (str, bool)):
        raise ValueError("must be a JSON integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]


class BreakerSettings(RequestModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    enabled: StrictBool = Field(True, description="false: SCIM deprovisions are never held")
    max_share: float = Field(0.3, gt=0, le=1, strict=True, description=(
        "Share of the tenant's active users one SCIM token may deactivate or delete within "
        "the window before further ones are held, in (0, 1]"))
    window_seconds: JsonInt = Field(600, ge=60, le=86400,
                                description="The window, 1 minute to 24 hours")
    min_changes: JsonInt = Field(5, ge=1, le=100000, description=(
        "Deprovisions per window always allowed whatever the share (so a small tenant can "
        "still remove someone)"))


class HeldChangeOut(BaseModel):
    id: UUID
    user_id: UUID
    user_name: str | None
    email: str | None
    op: Literal["deactivate", "delete"]
    status: Literal["held", "approved", "rejected", "void"]
    reason: str | None = Field(None, description="Why a change was void (user_gone, "
                                                 "user_is_owner)")
    token_id: UUID = Field(description="The SCIM token that sent it")
    trip_id: UUID = Field(description="The trip it belongs to (the first held change's id)")
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: UUID | None


class HeldChangeList(Page[HeldChangeOut]):
    """A page of HeldChangeOut."""


class HeldChangeIds(RequestModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[UUID] | None = Field(None, min_length=1, max_length=1000, description=(
        "The held changes to act on; leave out for every held change"))


class HeldChangeResult(BaseModel):
    changes: list[HeldChangeOut]


def held_out(row: Row) -> dict[str, Any]:
    return {k: row.get(k) for k in ("id", "user_id", "user_name", "email", "op", "status",
                                    "reason", "token_id", "trip_id", "created_at",
                                    "resolved_at", "resolved_by")}
# ---- custom User attributes (PUT/GET /api/v1/settings/scim/schema) ----

CustomAttrName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]


def _json_bool(value: Any) -> Any:
    """A JSON boolean only (not 0 or "false"), as the documented schema says."""
    if not isinstance(value, bool):
        raise ValueError("must be a JSON boolean")
    return value


OnlyFalse = Annotated[Literal[False], BeforeValidator(_json_bool)]


class CustomAttributeIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: CustomAttrName = Field(description="RFC 7643 ATTRNAME: a letter, then letters, digits,"
                                             " '-' or '_' (at most 64); unique "
                                             "case-insensitively")
    type: CustomType
    multi_valued: OnlyFalse = Field(False, description="Only single-valued attributes")
    required: StrictBool = Field(False, description="Creates and replaces must carry a value; "
                                                    "a PATCH may not remove it")
    case_exact: StrictBool = Field(False, description="Strings: filters compare case-sensitively")
    description: str = Field("", max_length=1000)


class ScimSchemaIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    attributes: list[CustomAttributeIn] = Field(
        max_length=MAX_ATTRIBUTES, description="The complete new set of custom attributes; "
        "an attribute left out is removed and its stored values deleted")


class CustomAttributeOut(BaseModel):
    name: str
    type: CustomType
    multi_valued: bool
    required: bool
    case_exact: bool
    description: str
    created_at: datetime


class ScimSchemaOut(BaseModel):
    urn: str = Field(description="The extension schema URN the attributes live under")
    attributes: list[CustomAttributeOut]


def custom_schema_out(rows: list[Row]) -> dict[str, Any]:
    return {"urn": URN_CUSTOM, "attributes": [
        {"name": r["name"], "type": r["type"], "multi_valued": False, "required": r["required"],
         "case_exact": r["case_exact"], "description": r["description"],
         "created_at": r["created_at"]} for r in rows]}
