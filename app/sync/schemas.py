"""Sync payloads from the Drift client.

Unknown fields are ignored rather than refused, so an older server accepts a newer client;
in particular `code` and `snippet` on violations (source code) are dropped and never stored,
echoed or sent in an event. File paths must be relative to the project root."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.webhooks.catalog import Severity, SubmittableType

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=200)]

_DRIVE = re.compile(r"^[A-Za-z]:")


def _relative_path(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if value.startswith(("/", "\\", "~")) or _DRIVE.match(value):
        raise ValueError("must be a path relative to the project root, not an absolute path")
    if ".." in re.split(r"[\\/]", value):
        raise ValueError("must stay inside the project (no '..' segments)")
    return value


RelativePath = Annotated[str, StringConstraints(min_length=1, max_length=1024),
                         AfterValidator(_relative_path)]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Number = Annotated[float, AfterValidator(_finite)]


class ScanIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: ShortText = Field(description="The client's scan id; re-sending it is recognised")
    started_at: AwareDatetime
    completed_at: AwareDatetime
    files_scanned: int = Field(ge=0, le=100_000_000)
    duration_ms: int = Field(ge=0, le=10**12)
    counts: dict[ShortText, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, max_length=50, description="Violation counts, e.g. by severity")

    @model_validator(mode="after")
    def _ordered(self) -> ScanIn:
        if self.completed_at < self.started_at:
            raise ValueError("completed_at is before started_at")
        return self


class GateResultIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    gate: ShortText
    passed: bool
    score: Number
    threshold: Number


class ViolationIn(BaseModel):
    model_config = ConfigDict(extra="ignore")  # drops code/snippet: never stored
    fingerprint: ShortText
    rule: ShortText
    severity: Severity
    file: RelativePath
    line: int | None = Field(None, ge=0)
    message: Annotated[str, StringConstraints(max_length=2000)] = ""


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    project_id: UUID
    scan: ScanIn
    gate_results: list[GateResultIn] = Field(default_factory=list, max_length=200)
    violations: list[ViolationIn] = Field(default_factory=list, max_length=10_000)

    @field_validator("gate_results")
    @classmethod
    def _unique_gates(cls, value: list[GateResultIn]) -> list[GateResultIn]:
        seen: set[str] = set()
        for g in value:
            if g.gate in seen:
                raise ValueError(f"gate {g.gate!r} appears more than once")
            seen.add(g.gate)
        return value

    @field_validator("violations")
    @classmethod
    def _unique_fingerprints(cls, value: list[ViolationIn]) -> list[ViolationIn]:
        seen: set[str] = set()
        for v in value:
            if v.fingerprint in seen:
                raise ValueError(f"fingerprint {v.fingerprint!r} appears more than once")
            seen.add(v.fingerprint)
        return value


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


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: SubmittableType
    data: dict[str, Any] = Field(description="Validated against the type's JSON Schema "
                                             "(GET /api/v1/webhooks/event-types)")


class EventOut(BaseModel):
    id: UUID
    type: str
    created_at: datetime
    tenant_id: UUID
    data: dict[str, Any]
