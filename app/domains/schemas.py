from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, WithJsonSchema

from app.core.emails import InvalidDomain, canonical_domain
from app.core.inputs import RequestModel
from app.core.pagination import Page


def _valid_domain(value: str) -> str:
    try:
        return canonical_domain(value)
    except InvalidDomain as exc:
        raise ValueError(str(exc)) from None


Domain = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=253),
                   AfterValidator(_valid_domain),
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
