from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from app.core.emails import InvalidEmail, canonical_email


def _valid_email(value: str) -> str:
    """An address we will store or send mail to, checked by email-validator (syntax only: no
    DNS lookups; the reserved .test domain is allowed for test setups), in its one stored form
    (app.core.emails: local part as typed, ASCII domain)."""
    try:
        return canonical_email(value)
    except InvalidEmail as exc:
        raise ValueError(str(exc)) from None


Email = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320),
                  AfterValidator(_valid_email),
                  WithJsonSchema({"type": "string", "format": "email", "maxLength": 320})]
# Login only compares what was typed with what is stored (app.auth.service.login brings it to
# the stored form first).
# Whitespace is stripped first, so the document asks for a non-space character.
LoginEmail = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                              max_length=320),
                       WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 320,
                                       "pattern": "\\S"})]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: Annotated[str, StringConstraints(min_length=1, max_length=63)] = Field(
        description="The tenant's slug")
    email: LoginEmail
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    expires_at: datetime | None = Field(None, description="Optional expiry (future, with zone)")


class ApiKeyOut(BaseModel):
    id: UUID
    user_id: UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    status: Literal["active", "expired", "revoked"]


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. Shown once; store it now.")


class Pagination(BaseModel):
    cursor: str | None
    has_more: bool
    total: int


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]
    pagination: Pagination


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
