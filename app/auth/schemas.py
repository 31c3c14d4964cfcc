from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from app.core import clock
from app.core.emails import InvalidEmail, canonical_email
from app.core.errors import NON_BLANK_PATTERN
from app.core.inputs import RequestModel, Timestamp
from app.core.pagination import Page
from app.core.responses import Row


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
                                              pattern=NON_BLANK_PATTERN,
                                              max_length=320),
                       WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 320,
                                       "pattern": "\\S"})]


class LoginIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    tenant: Annotated[str, StringConstraints(min_length=1, max_length=63)] = Field(
        description="The tenant's slug")
    email: LoginEmail
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class RefreshIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"]
    expires_in: int


class ApiKeyCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           pattern=NON_BLANK_PATTERN,
                                           max_length=100)]
    expires_at: Timestamp | None = Field(None, description="Optional expiry (future, with zone)")


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



class ApiKeyList(Page[ApiKeyOut]):
    """A page of ApiKeyOut."""


def key_out(row: Row) -> dict[str, Any]:
    now = clock.now()
    status = ("revoked" if row["revoked_at"] else
              "expired" if row["expires_at"] and row["expires_at"] <= now else "active")
    return {"id": row["id"], "user_id": row["user_id"], "name": row["name"],
            "prefix": row["prefix"], "created_at": row["created_at"],
            "expires_at": row["expires_at"], "last_used_at": row["last_used_at"],
            "revoked_at": row["revoked_at"], "status": status}
