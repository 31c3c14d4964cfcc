"""Sync payloads from the Drift client.

Unknown fields are ignored rather than refused, so an older server accepts a newer client;
in particular `code` and `snippet` on violations (source code) are dropped and never stored,
echoed or sent in an event. File paths must be relative to the project root."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from app.core.events import GroundingDegraded, Severity, SyncFailed
from app.core.inputs import RequestModel, Timestamp

# identifiers are stored exactly as sent (no stripping, so the documented minLength holds)
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]

_DRIVE = re.compile(r"^[A-Za-z]:")


def _relative_path(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if value.startswith(("/", "\\", "~")) or _DRIVE.match(value):
        raise ValueError("must be a path relative to the project root, not an absolute path")
    if ".." in re.split(r"[\\/]", value):
        raise ValueError("must stay inside the project (no '..' segments)")
    return value


# The pattern documents the same rule for clients and generators (the check itself is
# _relative_path: pydantic-core's regex engine has no lookarounds).
RELATIVE_PATH_PATTERN = r"^(?![/\\~])(?![A-Za-z]:)(?!(.*[/\\])?\.\.([/\\]|$))[^\x00]+$"
RelativePath = Annotated[str, StringConstraints(min_length=1, max_length=1024),
                         AfterValidator(_relative_path),
                         WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 1024,
                                         "pattern": RELATIVE_PATH_PATTERN,
                                         "description": "A path relative to the project root"})]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Number = Annotated[float, AfterValidator(_finite)]


class ScanIn(RequestModel):
    model_config = ConfigDict(extra="ignore")
    id: ShortText = Field(description="The client's scan id; re-sending it is recognised")
    started_at: Timestamp
    completed_at: Timestamp
    files_scanned: int = Field(ge=0, le=100_000_000)
    duration_ms: int = Field(ge=0, le=10**12)
    counts: dict[ShortText, Annotated[int, Field(ge=0, le=10**12)]] = Field(
        default_factory=dict, max_length=50, description="Violation counts, e.g. by severity")
    # completed_at >= started_at is checked by the service (400): JSON Schema cannot say it


class GateResultIn(RequestModel):
    model_config = ConfigDict(extra="ignore")
    gate: ShortText
    passed: bool
    score: Number
    threshold: Number


class ViolationIn(RequestModel):
    model_config = ConfigDict(extra="ignore")  # drops code/snippet: never stored
    fingerprint: ShortText
    rule: ShortText
    severity: Severity
    file: RelativePath
    line: int | None = Field(None, ge=0, le=2**31 - 1)  # an `integer` column
    message: Annotated[str, StringConstraints(max_length=2000)] = ""


class SyncIn(RequestModel):
    model_config = ConfigDict(extra="ignore")
    project_id: UUID
    scan: ScanIn
    gate_results: list[GateResultIn] = Field(default_factory=list, max_length=200)
    violations: list[ViolationIn] = Field(default_factory=list, max_length=10_000)

    # Gate names and violation fingerprints must be unique within one sync. That rule is not
    # expressible in JSON Schema, so the service checks it and answers 400 (like every rule
    # beyond the documented shape).


class Totals(BaseModel):
    total: int
    failed: int


class ViolationCounts(BaseModel):
    received: int
    new: int


class SyncOut(BaseModel):
    id: UUID = Field(description="The stored scan")
    project_id: UUID
    scan_id: str = Field(description="The client's scan id")
    created_at: datetime
    replayed: bool = Field(description="true if this scan id had been synced before: nothing "
                                       "was stored or emitted again")
    gates: Totals
    violations: ViolationCounts
    events: dict[str, int] = Field(description="Events emitted by this request, by type")


class GroundingDegradedIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["grounding.degraded"]
    data: GroundingDegraded


class SyncFailedIn(RequestModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["sync.failed"]
    data: SyncFailed


# The body's `data` schema depends on `type`: a discriminated union says so in the OpenAPI
# document, and validation uses the same models as the webhook payloads.
EventIn = Annotated[GroundingDegradedIn | SyncFailedIn, Field(discriminator="type")]


class EventOut(BaseModel):
    id: UUID
    type: str
    created_at: datetime
    tenant_id: UUID
    data: dict[str, Any]
