from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StringConstraints, WithJsonSchema

from app.core.errors import NON_BLANK_PATTERN
from app.core.inputs import RequestModel
from app.core.pagination import Page

# The shape only: whether it is a domain name Drift can verify (IDNA, a public suffix, no IP
# address) is a rule JSON Schema cannot state, so the service answers it (400 invalid_domain).
Domain = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                          pattern=NON_BLANK_PATTERN,
                                          max_length=253),
                   WithJsonSchema({"type": "string", "format": "hostname", "minLength": 1,
                                   "maxLength": 253})]


class DomainCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    domain: Domain


class DnsChallenge(BaseModel):
    """The TXT record to publish: `name TXT "value"`."""

    name: str
    type: Literal["TXT"]
    value: str
    record: str


class DomainOut(BaseModel):
    id: UUID
    domain: str
    status: Literal["pending", "verified"]
    challenge: DnsChallenge
    verified_at: datetime | None
    created_by: UUID | None
    created_at: datetime



class DomainList(Page[DomainOut]):
    """A page of DomainOut."""
