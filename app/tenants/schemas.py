"""The caller as GET /api/v1/me shows them."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel


class MeUser(BaseModel):
    id: UUID
    email: str | None
    name: str | None
    role: str


class MeTenant(BaseModel):
    id: UUID
    slug: str
    name: str
    plan: str


class MeCredential(BaseModel):
    type: Literal["api_key", "session"]


class MeOut(BaseModel):
    user: MeUser
    tenant: MeTenant
    credential: MeCredential
