from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.errors import NON_BLANK_PATTERN
from app.core.inputs import RequestModel
from app.core.pagination import Page
from app.core.responses import Row

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                        pattern=NON_BLANK_PATTERN,
                                        max_length=200)]
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



class ProjectList(Page[ProjectOut]):
    """A page of ProjectOut."""


def project_out(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "slug": row["slug"],
            "description": row["description"], "created_at": row["created_at"],
            "updated_at": row["updated_at"]}
