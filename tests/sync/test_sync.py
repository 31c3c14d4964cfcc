"""POST /api/v1/sync: stores scans, gate results and violations; emits scan.completed,
gate.failed per failing gate and violation.new for new critical/high violations only."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest

from app.core.runtime import Runtime
from tests.conftest import Tenant, assert_problem, audit_events
from tests.webhooks.conftest import Receiver, Reply
from tests.webhooks.helpers import deliver, register, subscribed_hook, validate_event

SNIPPET = "password = 'hunter2'  # the secret source line"


async def _project(client: httpx.AsyncClient, t: Tenant, name: str = "Core") -> str:
    r = await client.post("/api/v1/projects", headers=t.headers, json={"name": name})
    assert r.status_code == 201, r.text
    pid: str = r.json()["id"]
    return pid


def _violation(fp: str, severity: str, file: str = "src/app/main.py", **extra: Any
               ) -> dict[str, Any]:
    return {"fingerprint": fp, "rule": "no-hardcoded-secrets", "severity": severity,
            "file": file, "line": 42, "message": f"{severity} finding {fp}", **extra}


def _sync(project_id: str, scan_id: str = "scan-1", *, gates: list[dict[str, Any]] | None = None,
          violations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "scan": {"id": scan_id, "started_at": "2026-11-21T10:00:00Z",
                 "completed_at": "2026-11-21T10:01:30Z", "files_scanned": 812,
                 "duration_ms": 90000, "counts": {"critical": 1, "high": 1, "medium": 1}},
        "gate_results": gates if gates is not None else [
            {"gate": "security", "passed": False, "score": 0.61, "threshold": 0.8},
            {"gate": "coverage", "passed": True, "score": 0.9, "threshold": 0.75}],
        "violations": violations if violations is not None else [
            _violation("fp-crit", "critical", code=SNIPPET, snippet=SNIPPET),
            _violation("fp-high", "high", file="lib/util.ts", snippet=SNIPPET),
            _violation("fp-med", "medium", code=SNIPPET),
            _violation("fp-low", "low")],
    }


async def test_sync_stores_the_scan_and_emits_events(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = await subscribed_hook(client, tenant, receiver,
                                 ["scan.completed", "gate.failed", "violation.new"])
    pid = await _project(client, tenant)
    r = await client.post("/api/v1/sync", headers=tenant.headers, json=_sync(pid))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["project_id"] == pid and out["scan_id"] == "scan-1" and not out["replayed"]
    assert out["gates"] == {"total": 2, "failed": 1}
    assert out["violations"] == {"received": 4, "new": 4}
    assert out["events"] == {"scan.completed": 1, "gate.failed": 1, "violation.new": 2}

    (scan,) = await tenant.sql("SELECT * FROM scans")
    assert scan["files_scanned"] == 812 and scan["counts"] == {"critical": 1, "high": 1,
                                                              "medium": 1}
    gates = await tenant.sql("SELECT gate, passed, score FROM scan_gate_results ORDER BY gate")
    assert [tuple(g) for g in gates] == [("coverage", True, 0.9), ("security", False, 0.61)]
    stored = await tenant.sql("SELECT * FROM violations ORDER BY fingerprint")
    assert [v["fingerprint"] for v in stored] == ["fp-crit", "fp-high", "fp-low", "fp-med"]
    # source code never reaches the database, an event or the audit log
    for table in ("violations", "scans", "outbox_events", "audit_events"):
        dump = await tenant.sql(f"SELECT t::text AS row FROM {table} t")
        assert not any("hunter2" in d["row"] for d in dump), table

    await deliver(runtime, tenant)
    events = [r.json() for r in await hook.wait_for(4)]
    for event in events:
        validate_event(event)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event["data"])
    (completed,) = by_type["scan.completed"]
    assert completed["project_id"] == pid and completed["scan"]["id"] == "scan-1"
    assert completed["scan"]["files_scanned"] == 812
    assert completed["gates"] == {"total": 2, "failed": 1}
    assert completed["violations"] == {"received": 4, "new": 4}
    assert by_type["gate.failed"] == [{"project_id": pid, "scan_id": "scan-1",
                                       "gate": "security", "passed": False, "score": 0.61,
                                       "threshold": 0.8}]
    assert sorted((v["fingerprint"], v["severity"]) for v in by_type["violation.new"]) == [
        ("fp-crit", "critical"), ("fp-high", "high")]
    high = next(v for v in by_type["violation.new"] if v["fingerprint"] == "fp-high")
    assert high == {"project_id": pid, "scan_id": "scan-1", "fingerprint": "fp-high",
                    "rule": "no-hardcoded-secrets", "severity": "high", "file": "lib/util.ts",
                    "line": 42, "message": "high finding fp-high"}
    (audit,) = await audit_events(tenant, action="sync.ingest")
    assert audit["resource_id"] == pid and audit["metadata"]["violations_new"] == 4
    assert audit["request_id"] == r.headers["x-request-id"]


async def test_a_resynced_violation_is_not_new(client: httpx.AsyncClient, runtime: Runtime,
                                               tenant: Tenant, receiver: Receiver) -> None:
    hook = await subscribed_hook(client, tenant, receiver, ["violation.new", "gate.failed"])
    pid = await _project(client, tenant)
    assert (await client.post("/api/v1/sync", headers=tenant.headers,
                              json=_sync(pid))).status_code == 201
    second = _sync(pid, "scan-2", gates=[
        {"gate": "security", "passed": True, "score": 0.85, "threshold": 0.8}],
        violations=[_violation("fp-crit", "critical"), _violation("fp-high", "high"),
                    _violation("fp-new-crit", "critical", file="src/new.py"),
                    _violation("fp-new-med", "medium"),
                    _violation("fp-med", "high")])  # known, now high: still not new
    r = await client.post("/api/v1/sync", headers=tenant.headers, json=second)
    assert r.status_code == 201, r.text
    assert r.json()["violations"] == {"received": 5, "new": 2}
    assert r.json()["events"] == {"scan.completed": 1, "gate.failed": 0, "violation.new": 1}
    await deliver(runtime, tenant)
    got = await hook.wait_for(4)  # first sync: 1 gate + 2 violations; second: 1 violation
    new = [e.json()["data"]["fingerprint"] for e in got if e.json()["type"] == "violation.new"]
    assert sorted(new) == ["fp-crit", "fp-high", "fp-new-crit"]
    crit = (await tenant.sql("SELECT occurrences, severity FROM violations"
                             " WHERE fingerprint = 'fp-med'"))[0]
    assert tuple(crit) == (2, "high")


async def test_resending_a_scan_is_recognised(client: httpx.AsyncClient, tenant: Tenant,
                                              receiver: Receiver) -> None:
    await register(client, tenant, receiver.hook().url, ["scan.completed", "violation.new"])
    pid = await _project(client, tenant)
    first = await client.post("/api/v1/sync", headers=tenant.headers, json=_sync(pid))
    again = await client.post("/api/v1/sync", headers=tenant.headers, json=_sync(pid))
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["replayed"] is True and again.json()["events"] == {}
    assert again.json()["id"] == first.json()["id"]
    assert len(await tenant.sql("SELECT 1 FROM scans")) == 1
    # project.created, scan.completed, gate.failed and two violation.new: nothing more
    assert len(await tenant.sql("SELECT 1 FROM outbox_events")) == 5
    assert len(await audit_events(tenant, action="sync.ingest")) == 1
    # the same client scan id in another project is a different scan
    other = await _project(client, tenant, "Other")
    assert (await client.post("/api/v1/sync", headers=tenant.headers,
                              json=_sync(other))).status_code == 201


@pytest.mark.parametrize("path", ["/etc/passwd", "C:\\src\\app.py", "c:/src/app.py",
                                  "\\\\fileserver\\share\\a.py", "~/src/a.py",
                                  "../outside.py", "src/../../outside.py"])
async def test_absolute_paths_are_rejected_naming_the_field(
        client: httpx.AsyncClient, tenant: Tenant, path: str) -> None:
    pid = await _project(client, tenant)
    body = _sync(pid, violations=[_violation("ok", "low"), _violation("bad", "high", path)])
    r = await client.post("/api/v1/sync", headers=tenant.headers, json=body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "validation_error"
    assert [e["field"] for e in problem["errors"]] == ["violations.1.file"]
    assert "relative to the project root" in problem["detail"] or "inside the project" in \
        problem["detail"]
    assert await tenant.sql("SELECT 1 FROM scans") == []
    assert await tenant.sql("SELECT 1 FROM violations") == []


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b["scan"].update(started_at="2026-11-21T10:00:00"), "scan.started_at"),
    (lambda b: b["scan"].update(files_scanned=-1), "scan.files_scanned"),
    (lambda b: b["violations"][0].update(severity="urgent"), "violations.0.severity"),
    (lambda b: b["violations"][0].update(fingerprint=""), "violations.0.fingerprint"),
    (lambda b: b["gate_results"][0].update(score="high"), "gate_results.0.score"),
    (lambda b: b.pop("scan"), "scan"),
])
async def test_invalid_syncs_are_422(client: httpx.AsyncClient, tenant: Tenant,
                                     change: Any, field: str) -> None:
    pid = await _project(client, tenant)
    body = _sync(pid)
    change(body)
    r = await client.post("/api/v1/sync", headers=tenant.headers, json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert await tenant.sql("SELECT 1 FROM scans") == []


@pytest.mark.parametrize(("change", "code", "where"), [
    (lambda b: b["scan"].update(completed_at="2026-11-21T09:00:00Z"), "scan_times",
     "scan.completed_at"),
    (lambda b: b["violations"].append(copy.deepcopy(b["violations"][0])),
     "duplicate_fingerprint", "violations."),
    (lambda b: b["gate_results"].append(copy.deepcopy(b["gate_results"][0])),
     "duplicate_gate", "gate_results."),
])
async def test_inconsistent_syncs_are_400(client: httpx.AsyncClient, tenant: Tenant,
                                          change: Any, code: str, where: str) -> None:
    """Rules JSON Schema cannot state (time order, uniqueness within one sync) are 400s
    that name the offending field, and nothing is stored."""
    pid = await _project(client, tenant)
    body = _sync(pid)
    change(body)
    r = await client.post("/api/v1/sync", headers=tenant.headers, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == code and where in r.json()["detail"]
    assert await tenant.sql("SELECT 1 FROM scans") == []
    assert await tenant.sql("SELECT 1 FROM outbox_events WHERE type LIKE 'scan.%'") == []


async def test_sync_needs_write_access_to_the_project(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    pid = await _project(client, tenant)
    viewer = await tenant.add_user("viewer")
    r = await client.post("/api/v1/sync", headers=viewer.headers, json=_sync(pid))
    assert r.status_code == 403 and r.json()["code"] == "insufficient_role"
    member = await tenant.add_user("member")
    r = await client.post("/api/v1/sync", headers=member.headers, json=_sync(pid))
    assert r.status_code == 403 and r.json()["code"] == "project_access_denied"
    # assigned to one of the member's teams: allowed
    (team,) = await tenant.sql("INSERT INTO teams (tenant_id, name) VALUES ($1, 'Core team')"
                               " RETURNING id", tenant.id)
    await tenant.sql("INSERT INTO team_memberships (tenant_id, team_id, user_id)"
                     " VALUES ($1, $2, $3)", tenant.id, team["id"], member.id)
    await tenant.sql("INSERT INTO team_projects (tenant_id, team_id, project_id)"
                     " VALUES ($1, $2, $3)", tenant.id, team["id"], uuid.UUID(pid))
    r = await client.post("/api/v1/sync", headers=member.headers, json=_sync(pid))
    assert r.status_code == 201, r.text
    # unknown project, and another tenant's project: 404 (before any access check)
    r = await client.post("/api/v1/sync", headers=member.headers,
                          json=_sync(str(uuid.uuid4())))
    assert_problem(r, 404, "not_found")
    r = await client.post("/api/v1/sync", headers=other_tenant.headers, json=_sync(pid))
    assert_problem(r, 404, "not_found")
    assert await other_tenant.sql("SELECT 1 FROM scans") == []


async def test_sync_is_never_blocked_by_webhook_delivery(
        client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver) -> None:
    hang = receiver.hook(Reply(200, delay=60))
    for _ in range(3):
        await register(client, tenant, hang.url, ["scan.completed", "violation.new"])
    pid = await _project(client, tenant)
    many = [_violation(f"fp-{i}", "critical", file=f"src/m{i}.py") for i in range(500)]
    r = await client.post("/api/v1/sync", headers=tenant.headers,
                          json=_sync(pid, violations=many))
    assert r.status_code == 201, r.text
    assert r.json()["events"]["violation.new"] == 500
    # queued for three endpoints, none sent from the request
    assert len(await tenant.sql("SELECT 1 FROM webhook_deliveries")) == 3 * 501
    assert hang.requests == []
