from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.inputs import RequestModel

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]


class ProjectCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    slug: Slug | None = Field(None, description="URL name, unique in the tenant; derived from "
                                                "the name when omitted")
    description: Description | None = None


class ProjectUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    slug: Slug | None = None
    description: Description | None = None


class ProjectOut(BaseModel):
    id: UUID
    name: str
    slug: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class Pagination(BaseModel):
    cursor: str | None
    has_more: bool
    total: int


class ProjectList(BaseModel):
    data: list[ProjectOut]
    pagination: Pagination
