from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from app.core.errors import NON_BLANK_PATTERN
from app.core.events import EVENT_TYPES, WILDCARDS, Severity, check_subscription
from app.core.inputs import RequestModel, Timestamp
from app.core.pagination import Page
from app.core.responses import Row
from app.webhooks.dispatcher import event_envelope

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                       pattern=NON_BLANK_PATTERN,
                                       max_length=2048)]
Description = Annotated[str, StringConstraints(max_length=500)]
Subscription = Annotated[str, AfterValidator(check_subscription), WithJsonSchema({
    "type": "string", "enum": [*EVENT_TYPES, *sorted(WILDCARDS)],
    "description": "An event type, or a wildcard `prefix.*` matching at least one"})]
Events = Annotated[list[Subscription], Field(
    min_length=1, max_length=50,
    description="Event types to receive (see /webhooks/event-types), or wildcards `prefix.*` "
                "(e.g. `team.*`: every team.created, team.member.added, ...)")]
DeliveryStatus = Literal["pending", "delivered", "failed"]
RetryPolicy = Literal["fast", "extended"]
RETRY_POLICY_HELP = ("fast: retries after 1, 2, 4, 8, 16 s, then the delivery fails; extended "
                     "(the default): after those, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about "
                     "a day) before it fails")

MAX_GRACE = 7 * 24 * 3600


def _unique(events: list[str] | None) -> list[str] | None:
    return list(dict.fromkeys(events)) if events is not None else None


ProjectIds = Annotated[list[UUID], Field(min_length=1, max_length=20)]
PROJECTS_HELP = ("Only events about these projects (events that carry a project_id); null: "
                 "every project")
SEVERITY_HELP = ("Only violation.new of at least this severity, and scan.completed with at "
                 "least one violation of at least this severity; null: no filter")


# Headers a customer may not set: the signature families, what the transport owns, and hop-by-hop
RESERVED_HEADERS = frozenset({
    "webhook-id", "webhook-signature", "webhook-timestamp", "webhook-sequence",
    "content-type", "content-length", "content-encoding", "transfer-encoding", "host",
    "connection", "keep-alive", "upgrade", "te", "trailer", "proxy-authorization",
    "user-agent", "expect"})
RESERVED_PREFIX = "x-drift-"
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
MAX_HEADERS = 20


def _check_headers(headers: dict[str, str] | None) -> dict[str, str] | None:
    if headers is None:
        return None
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} custom headers")
    for name, value in headers.items():
        low = name.lower()
        if not _TOKEN.match(name):
            raise ValueError(f"{name!r} is not a valid header name (letters, digits and "
                             "!#$%&'*+.^_`|~-, up to 100)")
        if low in RESERVED_HEADERS or low.startswith(RESERVED_PREFIX):
            raise ValueError(f"{name!r} is set by Drift (signatures, content and transport "
                             f"headers and X-Drift-*) and cannot be overridden")
        if len(value) > 1000 or any(c in value for c in "\r\n\x00") or not value.isascii() \
                or not value.isprintable():
            raise ValueError(f"the value of {name!r} must be printable ASCII without line "
                             "breaks, up to 1000 characters")
    return headers


RateLimit = Annotated[int, Field(ge=1, le=10000)]
RATE_HELP = ("At most this many deliveries per second to the endpoint, across all workers "
             "(bursts of up to one second's worth); null: no limit")
def _ci(text: str) -> str:
    """`text` (letters and `-`) as a case-insensitive regex fragment (for the published JSON
    Schema)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in text)


_RESERVED_RE = "|".join([*(_ci(n) + "$" for n in sorted(RESERVED_HEADERS)),
                         _ci(RESERVED_PREFIX)])
# What _check_headers accepts, for clients and fuzzers (validation itself is _check_headers)
HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object", "maxProperties": MAX_HEADERS,
    "propertyNames": {"pattern": f"^(?!(?:{_RESERVED_RE}))[A-Za-z0-9!#$%&'*+.^_`|~-]{{1,100}}$"},
    "additionalProperties": {"type": "string", "pattern": "^[ -~]{0,1000}$"}}
Headers = Annotated[dict[str, str], WithJsonSchema(HEADERS_SCHEMA)]
HEADERS_HELP = ("Extra request headers (name: value), e.g. an Authorization for a gateway; "
                "the values are stored encrypted and never returned. The signature headers, "
                "Content-Type, Host, transport headers and X-Drift-* cannot be set")


def _unique_ids(ids: list[UUID] | None) -> list[UUID] | None:
    return list(dict.fromkeys(ids)) if ids is not None else None


class WebhookCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    url: Url = Field(description="https URL that receives the events")
    events: Events
    description: Description | None = None
    retry_policy: RetryPolicy = Field("extended", description=RETRY_POLICY_HELP)
    project_ids: ProjectIds | None = Field(None, description=PROJECTS_HELP)
    min_severity: Severity | None = Field(None, description=SEVERITY_HELP)

    headers: Headers | None = Field(None, description=HEADERS_HELP)
    rate_limit: RateLimit | None = Field(None, description=RATE_HELP)

    _dedupe = field_validator("events")(_unique)
    _dedupe_ids = field_validator("project_ids")(_unique_ids)
    _headers = field_validator("headers")(_check_headers)


class WebhookUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")
    url: Url | None = None
    events: Events | None = None
    description: Description | None = None
    active: bool | None = Field(None, description="false pauses deliveries (pending ones "
                                "fail, recoverable later); true re-enables and resets the "
                                "failure count")
    retry_policy: RetryPolicy | None = Field(None, description=RETRY_POLICY_HELP + "; applies "
                                             "to the next retry of pending deliveries too")
    project_ids: ProjectIds | None = Field(None, description=PROJECTS_HELP + " (send null "
                                           "to remove the filter)")
    min_severity: Severity | None = Field(None, description=SEVERITY_HELP + " (send null to "
                                          "remove the filter)")

    headers: Headers | None = Field(None, description=HEADERS_HELP + "; {} or null "
                                           "removes them all, a new object replaces them")
    rate_limit: RateLimit | None = Field(None, description=RATE_HELP + " (null removes it)")

    _dedupe_ids = field_validator("project_ids")(_unique_ids)
    _headers = field_validator("headers")(_check_headers)
    _dedupe = field_validator("events")(_unique)


class WebhookOut(BaseModel):
    id: UUID
    url: str
    events: list[str]
    description: str | None
    active: bool
    consecutive_failures: int
    disabled_reason: str | None = Field(description="manual, circuit_breaker or gone")
    disabled_at: datetime | None
    retry_policy: RetryPolicy = Field(description=RETRY_POLICY_HELP)
    failing_since: datetime | None = Field(description="Set when the tenant's admins were "
                                           "told the endpoint is failing; cleared when it "
                                           "recovers")
    project_ids: list[UUID] | None = Field(description=PROJECTS_HELP)
    min_severity: Severity | None = Field(description=SEVERITY_HELP)
    rate_limit: int | None = Field(description=RATE_HELP)
    header_names: list[str] = Field(description="Names of the custom headers (values are "
                                                "never returned)")
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_... signing secret, shown only this once")



class WebhookList(Page[WebhookOut]):
    """A page of WebhookOut."""


class RotateSecretIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    grace_period_seconds: int = Field(86400, ge=0, le=MAX_GRACE,
                                      description="How long the previous secret(s) keep "
                                                  "signing deliveries (0..604800)")


class RotateSecretOut(BaseModel):
    secret: str = Field(description="The new whsec_... secret, shown only this once")
    previous_secret_expires_at: datetime


class DeliveryOut(BaseModel):
    id: UUID
    endpoint_id: UUID
    event_id: UUID
    event_type: str
    status: DeliveryStatus
    attempt: int
    status_code: int | None
    response_body: str | None = Field(description="First 1 KB of the last response")
    latency_ms: int | None
    error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    created_at: datetime
    seq: int | None = Field(description="The endpoint's sequence number of this delivery "
                                        "(the webhook-sequence header); null for a test ping")


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int | None
    error: str | None
    response_body: str | None


class DeliveryDetail(DeliveryOut):
    attempts: list[AttemptOut]


class DeliveryList(Page[DeliveryOut]):
    """A page of DeliveryOut."""


class EndpointEventOut(BaseModel):
    seq: int = Field(description="The endpoint's sequence number (webhook-sequence): 1, 2, 3, "
                                 "... without gaps")
    event_id: UUID = Field(description="The event id (webhook-id)")
    type: str
    created_at: datetime = Field(description="When the event was created")
    status: DeliveryStatus = Field(description="Where its delivery to this endpoint stands")
    delivery_id: UUID
    payload: dict[str, Any] = Field(description="The delivered body: the envelope {id, type, "
                                                "created_at, tenant_id, data}")


class EndpointEventList(Page[EndpointEventOut]):
    """A page of EndpointEventOut, ascending by seq; `pagination.cursor` is the `after_seq`
    of the next page."""


class TestResult(BaseModel):
    success: bool
    delivery: DeliveryOut


class RecoverIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    since: Timestamp = Field(description="Re-queue failed deliveries created since then")


class RecoverOut(BaseModel):
    since: datetime
    requeued: int


class EventTypeOut(BaseModel):
    type: str
    description: str
    submittable: bool = Field(description="Can be sent by the Drift client to "
                                          "POST /api/v1/events")
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema of `data`")
    example: dict[str, Any] = Field(description="A `data` of this type (valid against "
                                                "`schema`)")


class EventTypeList(Page[EventTypeOut]):
    envelope_schema: dict[str, Any] = Field(description="JSON Schema of every delivery body "
                                                        "({id, type, created_at, tenant_id, "
                                                        "data}); `data` is per type")


def endpoint_out(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "url": row["url"], "events": list(row["events"]),
            "description": row["description"], "active": row["active"],
            "consecutive_failures": row["consecutive_failures"],
            "disabled_reason": row["disabled_reason"], "disabled_at": row["disabled_at"],
            "retry_policy": row["retry_policy"], "failing_since": row["failing_since"],
            "project_ids": list(row["project_ids"]) if row["project_ids"] is not None
            else None, "min_severity": row["min_severity"],
            "header_names": list(row["header_names"] or []), "rate_limit": row["rate_limit"],
            "created_at": row["created_at"], "updated_at": row["updated_at"]}


def delivery_out(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in (
        "id", "endpoint_id", "event_id", "event_type", "status", "attempt", "status_code",
        "response_body", "latency_ms", "error", "last_attempt_at", "delivered_at",
        "next_attempt_at", "created_at", "seq")}


def endpoint_event_out(row: Row, tenant_id: UUID) -> dict[str, Any]:
    """A row of repository.list_events, with the body exactly as it was delivered."""
    return {"seq": row["seq"], "event_id": row["event_id"], "type": row["event_type"],
            "created_at": row["event_created_at"], "status": row["status"],
            "delivery_id": row["id"],
            "payload": event_envelope(event_id=row["event_id"], type_=row["event_type"],
                                      created_at=row["event_created_at"],
                                      tenant_id=tenant_id, data=row["data"])}
