"""Sync ingest and client-submitted events. Both write their webhook events to the outbox in
the request's transaction, so a sync is never blocked (or slowed) by webhook delivery."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from app.core import clock
from app.core.audit_record import record
from app.core.errors import BadRequest, NotFound
from app.core.events import build_data
from app.core.outbox import emit, emit_many
from app.core.principal import Principal
from app.core.project_access import ensure_project_access
from app.core.tx import Tx
from app.projects import repository as projects
from app.sync import repository
from app.sync.schemas import GroundingDegradedIn, SyncFailedIn, SyncIn

# violation.new is sent for new violations of these severities only
NOTIFY_SEVERITIES = frozenset({"critical", "high"})


async def _writable_project(tx: Tx, principal: Principal, project_id: UUID) -> None:
    if await projects.get(tx, project_id) is None:
        raise NotFound("No project with that id.")
    await ensure_project_access(tx, principal, project_id, write=True)


def _summary(scan: asyncpg.Record, *, replayed: bool, events: dict[str, int],
             violations_new: int | None = None) -> dict[str, Any]:
    return {"id": scan["id"], "project_id": scan["project_id"],
            "scan_id": scan["external_id"], "created_at": scan["created_at"],
            "replayed": replayed,
            "gates": {"total": scan["gates_total"], "failed": scan["gates_failed"]},
            "violations": {"received": scan["violations_received"],
                           "new": scan["violations_new"] if violations_new is None
                           else violations_new},
            "events": events}


def _ensure_consistent(body: SyncIn) -> None:
    """Rules beyond the documented shape (400): the scan ends after it starts, and gate names
    and violation fingerprints name things, so each appears at most once per sync."""
    if body.scan.completed_at < body.scan.started_at:
        raise BadRequest("scan.completed_at is before scan.started_at.", code="scan_times")
    for field, values in (("gate_results", [g.gate for g in body.gate_results]),
                          ("violations", [v.fingerprint for v in body.violations])):
        seen: set[str] = set()
        for i, value in enumerate(values):
            if value in seen:
                what = "gate" if field == "gate_results" else "fingerprint"
                raise BadRequest(f"{field}.{i}: {what} {value!r} appears more than once in "
                                 "this sync; send each once.", code=f"duplicate_{what}")
            seen.add(value)


async def ingest(tx: Tx, principal: Principal, body: SyncIn) -> tuple[dict[str, Any], bool]:
    """Store a scan, its gate results and violations; emit scan.completed, gate.failed per
    failing gate and violation.new per new critical/high violation. Returns (summary,
    created); a scan id this project has synced before is a replay: nothing changes."""
    _ensure_consistent(body)
    await _writable_project(tx, principal, body.project_id)
    s = body.scan
    now = clock.now()
    failing = [g for g in body.gate_results if not g.passed]
    scan = await repository.insert_scan(
        tx, project_id=body.project_id, external_id=s.id, started_at=s.started_at,
        completed_at=s.completed_at, files_scanned=s.files_scanned, duration_ms=s.duration_ms,
        counts=s.counts, gates_total=len(body.gate_results), gates_failed=len(failing),
        violations_received=len(body.violations), synced_by=principal.user_id, now=now)
    if scan is None:
        existing = await repository.get_scan(tx, body.project_id, s.id)
        if existing is None:
            raise RuntimeError("expected existing is not None")
        return _summary(existing, replayed=True, events={}), False
    await repository.insert_gate_results(tx, scan["id"], body.gate_results)
    new_fingerprints = await repository.upsert_violations(
        tx, project_id=body.project_id, scan_id=scan["id"], violations=body.violations,
        now=now)
    if new_fingerprints:  # the column defaults to 0
        await repository.set_new_violations(tx, scan["id"], len(new_fingerprints))

    project_id = body.project_id
    await emit(tx, "scan.completed", build_data(
        "scan.completed", project_id=project_id,
        scan={"id": s.id, "started_at": s.started_at, "completed_at": s.completed_at,
              "files_scanned": s.files_scanned, "duration_ms": s.duration_ms,
              "counts": s.counts},
        gates={"total": len(body.gate_results), "failed": len(failing)},
        violations={"received": len(body.violations), "new": len(new_fingerprints)}))
    await emit_many(tx, "gate.failed", [
        build_data("gate.failed", project_id=project_id, scan_id=s.id, gate=g.gate,
                   score=g.score, threshold=g.threshold) for g in failing])
    notable = [v for v in body.violations
               if v.fingerprint in new_fingerprints and v.severity in NOTIFY_SEVERITIES]
    await emit_many(tx, "violation.new", [
        build_data("violation.new", project_id=project_id, scan_id=s.id,
                   fingerprint=v.fingerprint, rule=v.rule, severity=v.severity, file=v.file,
                   line=v.line, message=v.message) for v in notable])
    events = {"scan.completed": 1, "gate.failed": len(failing), "violation.new": len(notable)}
    await record(tx, "sync.ingest", resource_type="project", resource_id=project_id,
                 metadata={"scan": str(scan["id"]), "scan_id": s.id,
                           "gates_failed": len(failing),
                           "violations_received": len(body.violations),
                           "violations_new": len(new_fingerprints), "events": events})
    return _summary(scan, replayed=False, events=events,
                    violations_new=len(new_fingerprints)), True


async def submit_event(tx: Tx, principal: Principal,
                       body: GroundingDegradedIn | SyncFailedIn) -> dict[str, Any]:
    """A client-reported event (grounding.degraded, sync.failed), validated against its
    schema, about a project the caller may write to."""
    data = body.data.model_dump(mode="json")
    project_id = UUID(data["project_id"])
    await _writable_project(tx, principal, project_id)
    now = clock.now()
    event_id = await emit(tx, body.type, data, created_at=now)
    await record(tx, "event.submit", resource_type="project", resource_id=project_id,
                 metadata={"type": body.type, "event_id": str(event_id)})
    return {"id": event_id, "type": body.type, "created_at": now, "tenant_id": tx.tenant_id,
            "data": data}
