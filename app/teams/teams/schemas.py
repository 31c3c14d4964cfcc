from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.auth.schemas import Email
from app.core.errors import NON_BLANK_PATTERN
from app.core.inputs import RequestModel
from app.core.pagination import Page
from app.core.responses import Row

TeamName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            pattern=NON_BLANK_PATTERN,
                                            max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]
TeamRole = Literal["lead", "member"]


class TeamCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: TeamName = Field(description="Unique in the tenant, case-insensitively")
    description: Description | None = None


class TeamUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: TeamName | None = Field(None, description="Not for SCIM-managed teams (the IdP "
                                                    "names them)")
    description: Description | None = None


class TeamOut(BaseModel):
    id: UUID
    name: str
    description: str | None
    scim_managed: bool = Field(description="Mirrors an IdP group: membership, name and "
                                           "existence are changed through SCIM only")
    external_id: str | None
    member_count: int
    project_count: int
    created_at: datetime
    updated_at: datetime


class TeamList(Page[TeamOut]):
    """A page of TeamOut."""


class TeamMemberAdd(RequestModel):
    # exactly one of user_id / email, said in the schema too
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": ["user_id"], "properties": {"user_id": {"type": "string"}}},
                  {"required": ["email"], "properties": {"email": {"type": "string"}}}]})
    user_id: UUID | None = Field(None, description="A member of the tenant (or give email)")
    email: Email | None = Field(None, description="Email of a member of the tenant")
    role: TeamRole = "member"

    @model_validator(mode="after")
    def _one_of(self) -> TeamMemberAdd:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id or email")
        return self


class TeamMemberUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    role: TeamRole


class TeamMemberOut(BaseModel):
    user_id: UUID
    email: str | None
    user_name: str
    name: str | None
    role: TeamRole = Field(description="Role in the team")
    tenant_role: Literal["owner", "admin", "member", "viewer"]
    active: bool
    added_at: datetime


class TeamMemberList(Page[TeamMemberOut]):
    """A page of TeamMemberOut."""


class TeamProjectAdd(RequestModel):
    model_config = ConfigDict(extra="forbid")
    project_id: UUID


class TeamProjectOut(BaseModel):
    project_id: UUID
    name: str
    slug: str
    assigned_at: datetime


class TeamProjectList(Page[TeamProjectOut]):
    """A page of TeamProjectOut."""


def team_out(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "description": row["description"],
            "scim_managed": row["scim_managed"], "external_id": row["external_id"],
            "member_count": int(row["member_count"]),
            "project_count": int(row["project_count"]),
            "created_at": row["created_at"], "updated_at": row["updated_at"]}


def team_member_out(row: Row) -> dict[str, Any]:
    return {"user_id": row["user_id"], "email": row["email"], "user_name": row["user_name"],
            "name": row["display_name"], "role": row["role"], "tenant_role": row["tenant_role"],
            "active": row["active"], "added_at": row["created_at"]}


def team_project_out(row: Row) -> dict[str, Any]:
    return {"project_id": row["project_id"], "name": row["name"], "slug": row["slug"],
            "assigned_at": row["created_at"]}
