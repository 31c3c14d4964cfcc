"""The event catalog: every type a webhook can carry, with a JSON Schema for its `data`.

Each type's `data` is a pydantic model, so the JSON Schema served at
GET /api/v1/webhooks/event-types and the payloads we build come from the same definition.
Every delivery is the envelope `{"id", "type", "created_at", "tenant_id", "data"}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from pydantic import ConfigDict, Field, StringConstraints

from app.core.inputs import RequestModel, Timestamp

Severity = Literal["critical", "high", "medium", "low", "info"]
Score = Annotated[float, Field(ge=0.0, le=1.0)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Message = Annotated[str, StringConstraints(max_length=2000)]


class EventData(RequestModel):
    model_config = ConfigDict(extra="forbid")


class ScanSummary(EventData):
    id: ShortText = Field(description="The scan id assigned by the Drift client")
    started_at: datetime
    completed_at: datetime
    files_scanned: int = Field(ge=0)
    duration_ms: int = Field(ge=0)
    counts: dict[str, Annotated[int, Field(ge=0)]] = Field(
        description="Violation counts by severity (or other client-defined buckets)")


class GateTotals(EventData):
    total: int = Field(ge=0)
    failed: int = Field(ge=0)


class ViolationTotals(EventData):
    received: int = Field(ge=0, description="Violations in this sync")
    new: int = Field(ge=0, description="Fingerprints this project had never reported before")


class ScanCompleted(EventData):
    project_id: UUID
    scan: ScanSummary
    gates: GateTotals
    violations: ViolationTotals


class GateFailed(EventData):
    project_id: UUID
    scan_id: ShortText
    gate: ShortText
    passed: Literal[False] = False
    score: float
    threshold: float


class ViolationNew(EventData):
    project_id: UUID
    scan_id: ShortText
    fingerprint: ShortText
    rule: ShortText
    severity: Literal["critical", "high"]
    file: str = Field(description="Path relative to the project root")
    line: int | None = Field(None, ge=0)
    message: Message


class GroundingDegraded(EventData):
    project_id: UUID
    score: Score = Field(description="The grounding score now, 0..1")
    threshold: Score | None = Field(None, description="The score below which it is degraded")
    previous_score: Score | None = None
    message: Message | None = None


class SyncFailed(EventData):
    project_id: UUID
    scan_id: ShortText | None = None
    error_code: Annotated[str, StringConstraints(min_length=1, max_length=100,
                                                 pattern=r"^[A-Za-z0-9_.:-]+$")]
    message: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    occurred_at: Timestamp


class ApiKeyExpiring(EventData):
    key_id: UUID
    name: str
    prefix: str = Field(description="The key's recognisable prefix (dck_ + 8 characters)")
    user_id: UUID
    user_email: str | None
    expires_at: datetime


class ProjectEvent(EventData):
    project_id: UUID
    name: str
    slug: str


class UserDeprovisioned(EventData):
    user_id: UUID
    email: str | None
    user_name: str
    deprovisioned_at: datetime
    source: str = Field(description="What deprovisioned the user, e.g. scim or members_api")
    api_keys_revoked: int = Field(ge=0)
    sessions_revoked: int = Field(ge=0)


class Ping(EventData):
    endpoint_id: UUID
    message: str


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    model: type[EventData]
    submittable: bool = False  # may the Drift client POST it to /api/v1/events?


EVENT_TYPES: dict[str, EventType] = {e.name: e for e in [
    EventType("scan.completed", "A scan was synced (POST /api/v1/sync).", ScanCompleted),
    EventType("gate.failed", "A quality gate failed in a synced scan; one event per gate.",
              GateFailed),
    EventType("violation.new", "A critical or high violation appeared for the first time in "
              "a project (a re-synced fingerprint is not new).", ViolationNew),
    EventType("grounding.degraded", "The Drift client reports that grounding quality dropped.",
              GroundingDegraded, submittable=True),
    EventType("apikey.expiring", "An API key expires within 7 days (sent once per key).",
              ApiKeyExpiring),
    EventType("sync.failed", "The Drift client could not complete a sync.", SyncFailed,
              submittable=True),
    EventType("project.created", "A project was created.", ProjectEvent),
    EventType("project.deleted", "A project was deleted.", ProjectEvent),
    EventType("user.deprovisioned", "A user was deactivated and their credentials revoked "
              "(SCIM or the members API).", UserDeprovisioned),
    EventType("ping", "A test event sent by POST /api/v1/webhooks/{id}/test.", Ping),
]}

EventTypeName = Literal["scan.completed", "gate.failed", "violation.new", "grounding.degraded",
                        "apikey.expiring", "sync.failed", "project.created", "project.deleted",
                        "user.deprovisioned", "ping"]
SubmittableType = Literal["grounding.degraded", "sync.failed"]

ENVELOPE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Webhook event envelope",
    "type": "object",
    "required": ["id", "type", "created_at", "tenant_id", "data"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "format": "uuid",
               "description": "The event id; also sent as X-Drift-Webhook-Id and webhook-id, "
                              "the same on every retry"},
        "type": {"type": "string", "enum": list(EVENT_TYPES)},
        "created_at": {"type": "string", "format": "date-time"},
        "tenant_id": {"type": "string", "format": "uuid"},
        "data": {"type": "object"},
    },
}


@cache
def data_schema(type_: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `data` for one event type."""
    schema = EVENT_TYPES[type_].model.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def catalog() -> list[dict[str, Any]]:
    return [{"type": e.name, "description": e.description,
             "submittable": e.submittable, "schema": data_schema(e.name)}
            for e in EVENT_TYPES.values()]


def build_data(type_: str, **fields: Any) -> dict[str, Any]:
    """Validate `fields` against the type's model and return JSON-ready data."""
    return EVENT_TYPES[type_].model(**fields).model_dump(mode="json")


if set(get_args(EventTypeName)) != set(EVENT_TYPES) or not set(
        get_args(SubmittableType)) == {e.name for e in EVENT_TYPES.values() if e.submittable}:
    raise RuntimeError("EventTypeName/SubmittableType are out of step with EVENT_TYPES")
