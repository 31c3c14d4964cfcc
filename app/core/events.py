"""The event catalog: every type a webhook can carry, with a JSON Schema for its `data`.

Each type's `data` is a pydantic model, so the JSON Schema served at
GET /api/v1/webhooks/event-types and the payloads we build come from the same definition;
each type also carries an example `data` (served too, and validated by the tests). Every
type that code emits must be here (`outbox.emit_many` refuses others, and
tests/webhooks/test_catalog.py finds every emit call site), or no endpoint could subscribe.
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
    """The Drift client's own payload (memory_id, old_score, new_score), scoped to a project."""
    project_id: UUID
    memory_id: ShortText = Field(description="The Drift memory whose grounding dropped, as "
                                             "the client identifies it")
    old_score: Score = Field(description="The grounding score before, 0..1")
    new_score: Score = Field(description="The grounding score now, 0..1")
    threshold: Score | None = Field(None, description="The score below which it counts as "
                                                      "degraded, if the client has one")
    message: Message | None = None


class SyncFailed(EventData):
    """The Drift client's own payload (error, retry_count), scoped to a project."""
    project_id: UUID
    error: Annotated[str, StringConstraints(min_length=1, max_length=2000)] = Field(
        description="What went wrong, as the client reports it")
    retry_count: int = Field(ge=0, le=1_000_000,
                             description="How many times the client has retried this sync")
    scan_id: ShortText | None = None
    error_code: Annotated[str, StringConstraints(min_length=1, max_length=100,
                                                 pattern=r"^[A-Za-z0-9_.:-]+$")] | None = Field(
        None, description="A machine-readable code for the error, if the client has one")
    occurred_at: Timestamp | None = Field(None, description="When the sync failed (the event's "
                                                           "created_at is when it was reported)")


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


class UserProvisioning(EventData):
    """user.provisioned (SCIM, or SSO just-in-time provisioning) and user.reactivated (SCIM)."""
    user_id: UUID
    user_name: str
    email: str | None
    external_id: str | None = Field(description="The identity provider's id for the user")
    active: bool
    source: str = Field(description="What changed the user: scim, or sso (just-in-time)")


class UserUpdated(EventData):
    """A user's attributes changed (today through SCIM)."""
    user_id: UUID
    user_name: str
    email: str | None
    attributes: list[str] = Field(description="The SCIM attributes that changed")
    source: str = Field(description="What changed the user; today always scim")


class MemberEvent(EventData):
    """member.added / member.removed."""
    user_id: UUID
    email: str | None
    role: str = Field(description="owner, admin, member or viewer")
    source: str = Field(description="invitation (added), members_api (removed)")


class MemberRoleChanged(EventData):
    user_id: UUID
    email: str | None
    old_role: str
    new_role: str


class TeamEvent(EventData):
    """team.created / team.updated / team.deleted."""
    team_id: UUID
    name: str
    description: str | None
    changed: list[str] = Field(default_factory=list,
                               description="team.updated: the fields that changed")


class TeamMemberEvent(EventData):
    """team.member.added / team.member.removed."""
    team_id: UUID
    team_name: str
    user_id: UUID
    email: str | None
    role: str = Field(description="The member's role in the team: lead or member")
    source: str = Field(description="teams_api, invitation or scim (an IdP group change)")


class InvitationEvent(EventData):
    """invitation.created / invitation.accepted / invitation.revoked."""
    invitation_id: UUID
    email: str
    role: str
    team_id: UUID | None
    user_id: UUID | None = Field(None, description="invitation.accepted: the member")
    reason: str | None = Field(None, description="invitation.revoked: why (admin, or "
                                                 "superseded by SCIM)")


class IpAllowlistChanged(EventData):
    action: Literal["added", "updated", "removed", "emergency_reset"]
    entry_id: UUID | None = Field(description="None for emergency_reset (every entry)")
    cidr: str | None
    description: str | None = None


class WebhookEndpointDisabled(EventData):
    """An endpoint was turned off by the system (never sent to that endpoint)."""
    endpoint_id: UUID
    url: str
    reason: Literal["circuit_breaker", "gone"] = Field(
        description="circuit_breaker: too many consecutive failed deliveries; gone: the "
                    "receiver answered 410")
    detail: str
    consecutive_failures: int = Field(ge=0)
    pending_deliveries_failed: int = Field(ge=0, description="Pending deliveries failed with "
                                           "it (recoverable once it is re-enabled)")
    disabled_at: datetime


class WebhookDeliveryExhausted(EventData):
    """A delivery used up its retries (never sent to the endpoint it failed for)."""
    endpoint_id: UUID
    url: str
    delivery_id: UUID
    event_id: UUID
    event_type: str
    attempts: int = Field(ge=1)
    last_status_code: int | None = Field(description="None: no HTTP answer (see last_error)")
    last_error: str | None


class WebhookEndpointRecovered(EventData):
    """An endpoint that was failing works again."""
    endpoint_id: UUID
    url: str
    reason: Literal["delivered", "re_enabled"] = Field(
        description="delivered: a delivery succeeded; re_enabled: a user re-enabled it")
    failing_since: datetime
    recovered_at: datetime


class Ping(EventData):
    endpoint_id: UUID
    message: str


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    model: type[EventData]
    example: dict[str, Any]  # a `data` that validates against the schema (tests check it)
    submittable: bool = False  # may the Drift client POST it to /api/v1/events?


_PROJECT = "3f0c1a52-7a8e-4e0b-9d0e-2b6f4a1c9e11"
_USER = "8b1e6f0a-52c4-4d8e-a1f3-0c9d7e6b5a42"
_ENDPOINT = "c7a9e2f1-3b4d-4e5f-8a6b-9c0d1e2f3a4b"
_TEAM = "4d8a2c6e-0f1b-4a3d-8e5c-7b9d1f3a5c7e"
_INVITATION = "9e1c3a5b-7d2f-4b6a-8c0e-1f3b5d7a9c2e"

EVENT_TYPES: dict[str, EventType] = {e.name: e for e in [
    EventType("scan.completed", "A scan was synced (POST /api/v1/sync).", ScanCompleted, {
        "project_id": _PROJECT,
        "scan": {"id": "scan-123", "started_at": "2026-11-21T10:00:00Z",
                 "completed_at": "2026-11-21T10:01:30Z", "files_scanned": 812,
                 "duration_ms": 90000, "counts": {"critical": 1, "high": 3}},
        "gates": {"total": 2, "failed": 1}, "violations": {"received": 4, "new": 1}}),
    EventType("gate.failed", "A quality gate failed in a synced scan; one event per gate.",
              GateFailed, {"project_id": _PROJECT, "scan_id": "scan-123", "gate": "security",
                           "passed": False, "score": 0.61, "threshold": 0.8}),
    EventType("violation.new", "A critical or high violation appeared for the first time in "
              "a project (a re-synced fingerprint is not new).", ViolationNew, {
                  "project_id": _PROJECT, "scan_id": "scan-123", "fingerprint": "a1b2c3d4",
                  "rule": "sql-injection", "severity": "high", "file": "src/app.py",
                  "line": 42, "message": "Query built from request input"}),
    EventType("grounding.degraded", "The Drift client reports that grounding quality dropped.",
              GroundingDegraded, {"project_id": _PROJECT, "memory_id": "mem_42",
                                  "old_score": 0.81, "new_score": 0.42, "threshold": 0.7,
                                  "message": "Grounding fell below the threshold"},
              submittable=True),
    EventType("apikey.expiring", "An API key expires within 7 days (sent once per key).",
              ApiKeyExpiring, {"key_id": "5d2b7c1e-0f4a-4b8e-9c3d-6e1a2f7b8c90",
                               "name": "CI", "prefix": "dck_Ab3dEf9h", "user_id": _USER,
                               "user_email": "dev@example.com",
                               "expires_at": "2026-11-28T10:00:00Z"}),
    EventType("sync.failed", "The Drift client could not complete a sync.", SyncFailed, {
        "project_id": _PROJECT, "error": "upload timed out after 30 s", "retry_count": 3,
        "scan_id": "scan-124", "error_code": "E_NETWORK",
        "occurred_at": "2026-11-21T10:00:00Z"}, submittable=True),
    EventType("project.created", "A project was created.", ProjectEvent,
              {"project_id": _PROJECT, "name": "Core", "slug": "core"}),
    EventType("project.deleted", "A project was deleted.", ProjectEvent,
              {"project_id": _PROJECT, "name": "Core", "slug": "core"}),
    EventType("user.provisioned", "A user was created by the identity provider (SCIM, or "
              "just-in-time at their first SSO login).",
              UserProvisioning, {"user_id": _USER, "user_name": "ada@example.com",
                                 "email": "ada@example.com", "external_id": "00u1a2b3c4",
                                 "active": True, "source": "scim"}),
    EventType("user.reactivated", "A deactivated user was made active again by the identity "
              "provider (SCIM); their old credentials stay revoked.", UserProvisioning,
              {"user_id": _USER, "user_name": "ada@example.com", "email": "ada@example.com",
               "external_id": "00u1a2b3c4", "active": True, "source": "scim"}),
    EventType("user.deprovisioned", "A user was deactivated and their credentials revoked "
              "(SCIM or the members API).", UserDeprovisioned, {
                  "user_id": _USER, "email": "ada@example.com", "user_name": "ada@example.com",
                  "deprovisioned_at": "2026-11-21T10:00:00Z", "source": "scim",
                  "api_keys_revoked": 2, "sessions_revoked": 1}),
    EventType("user.updated", "A user's attributes (name, email, ...) changed through SCIM.",
              UserUpdated, {"user_id": _USER, "user_name": "ada@example.com",
                            "email": "ada@example.com", "attributes": ["displayName"],
                            "source": "scim"}),
    EventType("member.added", "Someone became an active member of the tenant by accepting an "
              "invitation (SCIM sends user.provisioned).", MemberEvent,
              {"user_id": _USER, "email": "ada@example.com", "role": "member",
               "source": "invitation"}),
    EventType("member.removed", "A member was removed (deactivated) through the members API "
              "(also sent as user.deprovisioned).", MemberEvent,
              {"user_id": _USER, "email": "ada@example.com", "role": "member",
               "source": "members_api"}),
    EventType("member.role_changed", "A member's tenant role changed.", MemberRoleChanged,
              {"user_id": _USER, "email": "ada@example.com", "old_role": "member",
               "new_role": "admin"}),
    EventType("team.created", "A team was created.", TeamEvent,
              {"team_id": _TEAM, "name": "Platform", "description": None, "changed": []}),
    EventType("team.updated", "A team's name or description changed.", TeamEvent,
              {"team_id": _TEAM, "name": "Platform", "description": "Infra",
               "changed": ["description"]}),
    EventType("team.deleted", "A team was deleted.", TeamEvent,
              {"team_id": _TEAM, "name": "Platform", "description": None, "changed": []}),
    EventType("team.member.added", "A user was added to a team (teams API, an invitation "
              "with a team, or a SCIM group create/PUT/PATCH).", TeamMemberEvent,
              {"team_id": _TEAM, "team_name": "Platform", "user_id": _USER,
               "email": "ada@example.com", "role": "member", "source": "teams_api"}),
    EventType("team.member.removed", "A user was removed from a team (teams API, or a "
              "SCIM group PUT/PATCH).",
              TeamMemberEvent,
              {"team_id": _TEAM, "team_name": "Platform", "user_id": _USER,
               "email": "ada@example.com", "role": "member", "source": "teams_api"}),
    EventType("invitation.created", "An invitation was sent.", InvitationEvent,
              {"invitation_id": _INVITATION, "email": "ada@example.com", "role": "member",
               "team_id": None, "user_id": None, "reason": None}),
    EventType("invitation.accepted", "An invitation was accepted.", InvitationEvent,
              {"invitation_id": _INVITATION, "email": "ada@example.com", "role": "member",
               "team_id": None, "user_id": _USER, "reason": None}),
    EventType("invitation.revoked", "A pending invitation was revoked by an admin.",
              InvitationEvent,
              {"invitation_id": _INVITATION, "email": "ada@example.com", "role": "member",
               "team_id": None, "user_id": None, "reason": "admin"}),
    EventType("ip_allowlist.changed", "The tenant's IP allowlist changed (an entry added, "
              "updated or removed, or the emergency reset).", IpAllowlistChanged,
              {"action": "added", "entry_id": "2f4e6a8c-1b3d-4f5a-9c7e-0d2b4f6a8c1e",
               "cidr": "203.0.113.0/24", "description": "office"}),
    EventType("webhook.endpoint.disabled", "A webhook endpoint was disabled by the circuit "
              "breaker or because it answered 410 Gone. Not sent to that endpoint.",
              WebhookEndpointDisabled, {
                  "endpoint_id": _ENDPOINT, "url": "https://hooks.example.com/drift",
                  "reason": "circuit_breaker", "detail": "50 consecutive failed deliveries",
                  "consecutive_failures": 50, "pending_deliveries_failed": 3,
                  "disabled_at": "2026-11-21T10:00:00Z"}),
    EventType("webhook.delivery.exhausted", "A delivery failed its last retry and was "
              "dead-lettered. Not sent to the endpoint it is about; not emitted for the "
              "webhook.* alerts themselves.", WebhookDeliveryExhausted, {
                  "endpoint_id": _ENDPOINT, "url": "https://hooks.example.com/drift",
                  "delivery_id": "0b6f3c2a-9d1e-4f7a-8b5c-2e4d6f8a0c1e",
                  "event_id": "6a1d9e3b-2c4f-4a8e-b7d1-5f3e9c2a4b6d",
                  "event_type": "scan.completed", "attempts": 12, "last_status_code": 503,
                  "last_error": None}),
    EventType("webhook.endpoint.recovered", "A failing webhook endpoint delivered again, or "
              "a user re-enabled it. Not sent to that endpoint.", WebhookEndpointRecovered, {
                  "endpoint_id": _ENDPOINT, "url": "https://hooks.example.com/drift",
                  "reason": "delivered", "failing_since": "2026-11-21T10:00:00Z",
                  "recovered_at": "2026-11-21T14:30:00Z"}),
    EventType("ping", "A test event sent by POST /api/v1/webhooks/{id}/test.", Ping,
              {"endpoint_id": "c7a9e2f1-3b4d-4e5f-8a6b-9c0d1e2f3a4b",
               "message": "Test event from Drift Cloud"}),
]}

EventTypeName = Literal["scan.completed", "gate.failed", "violation.new", "grounding.degraded",
                        "apikey.expiring", "sync.failed", "project.created", "project.deleted",
                        "user.provisioned", "user.reactivated", "user.deprovisioned",
                        "user.updated", "member.added", "member.removed",
                        "member.role_changed", "team.created", "team.updated", "team.deleted",
                        "team.member.added", "team.member.removed", "invitation.created",
                        "invitation.accepted", "invitation.revoked", "ip_allowlist.changed",
                        "webhook.endpoint.disabled", "webhook.delivery.exhausted",
                        "webhook.endpoint.recovered", "ping"]
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


def wildcards(type_: str) -> list[str]:
    """The wildcard subscriptions that match a type: `team.member.added` -> `team.*`,
    `team.member.*`."""
    parts = type_.split(".")
    return [".".join(parts[:i]) + ".*" for i in range(1, len(parts))]


def subscription_keys(type_: str) -> list[str]:
    """What an endpoint's `events` must contain (any one) to receive this type."""
    return [type_, *wildcards(type_)]


WILDCARDS: frozenset[str] = frozenset(w for t in EVENT_TYPES for w in wildcards(t))


def check_subscription(value: str) -> str:
    """An endpoint's `events` item: a catalog type or a wildcard `prefix.*` that matches at
    least one (pydantic validator)."""
    if value in EVENT_TYPES or value in WILDCARDS:
        return value
    raise ValueError(f"{value!r} is neither an event type nor a wildcard matching one "
                     f"(`prefix.*`, e.g. `team.*`); see GET /api/v1/webhooks/event-types")


@cache
def data_schema(type_: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `data` for one event type."""
    schema = EVENT_TYPES[type_].model.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def catalog() -> list[dict[str, Any]]:
    return [{"type": e.name, "description": e.description,
             "submittable": e.submittable, "schema": data_schema(e.name),
             "example": e.example}
            for e in EVENT_TYPES.values()]


def build_data(type_: str, **fields: Any) -> dict[str, Any]:
    """Validate `fields` against the type's model and return JSON-ready data."""
    return EVENT_TYPES[type_].model(**fields).model_dump(mode="json")


if set(get_args(EventTypeName)) != set(EVENT_TYPES) or not set(
        get_args(SubmittableType)) == {e.name for e in EVENT_TYPES.values() if e.submittable}:
    raise RuntimeError("EventTypeName/SubmittableType are out of step with EVENT_TYPES")
