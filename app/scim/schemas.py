"""Pydantic models of the admin REST API (/api/v1/settings/scim)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints

from app.core.inputs import RequestModel
from app.core.pagination import Page
from app.core.principal import Role
from app.core.responses import Row
from app.scim.constants import URN_CUSTOM
from app.scim.custom import MAX_ATTRIBUTES, NAME_PATTERN, CustomType

TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=100)]
GroupName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
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
