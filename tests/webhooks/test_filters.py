"""Per-endpoint filters beyond the type: project ids and a minimum severity, applied by the
fan-out statement (a filtered-out event gets no delivery row at all)."""

from __future__ import annotations

from typing import Any

import httpx

from app.core.runtime import Runtime
from tests.conftest import Tenant, assert_problem, audit_events
from tests.webhooks.conftest import Receiver
from tests.webhooks.helpers import deliver, deliveries, register

TYPES = ["scan.completed", "violation.new", "gate.failed", "sync.failed", "team.created"]


async def _sync(client: httpx.AsyncClient, t: Tenant, project_id: str, scan_id: str,
                severities: list[str]) -> None:
    counts: dict[str, int] = {}
    for s in severities:
        counts[s] = counts.get(s, 0) + 1
    r = await client.post("/api/v1/sync", headers=t.headers, json={
        "project_id": project_id,
        "scan": {"id": scan_id, "started_at": "2026-11-21T10:00:00Z",
                 "completed_at": "2026-11-21T10:00:05Z", "files_scanned": 3,
                 "duration_ms": 5000, "counts": counts},
        "gate_results": [{"gate": "security", "passed": False, "score": 0, "threshold": 1}],
        "violations": [{"fingerprint": f"{scan_id}-{i}", "rule": "r1", "severity": s,
                        "file": "a.py", "line": None, "message": "m"}
                       for i, s in enumerate(severities)]})
    assert r.status_code == 201, r.text


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return sorted((e["type"], e["data"].get("severity")) for e in events)


async def test_project_and_severity_filters_are_applied_at_fan_out(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    h = tenant.headers
    web = (await client.post("/api/v1/projects", headers=h, json={"name": "Web"})).json()["id"]
    api = (await client.post("/api/v1/projects", headers=h, json={"name": "Api"})).json()["id"]
    everything, web_only, critical = receiver.hook(), receiver.hook(), receiver.hook()
    await register(client, tenant, everything.url, TYPES)
    await register(client, tenant, web_only.url, TYPES, project_ids=[web])
    crit = await register(client, tenant, critical.url, TYPES, min_severity="critical")
    assert crit["min_severity"] == "critical" and crit["project_ids"] is None
    await _sync(client, tenant, web, "s1", ["high"])  # no critical: scan not for `critical`
    await _sync(client, tenant, api, "s2", ["critical", "high"])
    r = await client.post("/api/v1/teams", headers=h, json={"name": "Ops"})  # no project_id
    assert r.status_code == 201, r.text
    await deliver(runtime, tenant)
    assert len(everything.requests) == 8  # 2 x (scan, gate) + 3 violations + team
    assert {e["data"].get("project_id") for e in web_only.events()} == {web, None}
    assert kinds(web_only.events()) == [("gate.failed", None), ("scan.completed", None),
                                        ("team.created", None), ("violation.new", "high")]
    assert kinds(critical.events()) == [
        ("gate.failed", None), ("gate.failed", None), ("scan.completed", None),
        ("team.created", None), ("violation.new", "critical")]
    (scan,) = [e for e in critical.events() if e["type"] == "scan.completed"]
    assert scan["data"]["scan"]["id"] == "s2"
    # filtered-out events were never queued (no delivery rows to skip later)
    assert len(await deliveries(tenant)) == 8 + 4 + 5


async def test_filters_are_validated_changed_and_audited(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, receiver: Receiver
) -> None:
    h = tenant.headers
    mine = (await client.post("/api/v1/projects", headers=h, json={"name": "Mine"})).json()
    theirs = (await client.post("/api/v1/projects", headers=other_tenant.headers,
                                json={"name": "Theirs"})).json()
    hook = receiver.hook()
    r = await client.post("/api/v1/webhooks", headers=h, json={
        "url": hook.url, "events": TYPES, "project_ids": [theirs["id"]]})
    assert r.status_code == 400 and r.json()["code"] == "unknown_project", r.text
    r = await client.post("/api/v1/webhooks", headers=h, json={
        "url": hook.url, "events": TYPES, "min_severity": "severe"})
    assert_problem(r, 422, "validation_error")
    assert await tenant.sql("SELECT 1 FROM webhook_endpoints") == []
    ep = await register(client, tenant, hook.url, TYPES, project_ids=[mine["id"]])
    url = f"/api/v1/webhooks/{ep['id']}"
    r = await client.patch(url, headers=h, json={"project_ids": [theirs["id"]]})
    assert r.status_code == 400 and r.json()["code"] == "unknown_project"
    r = await client.patch(url, headers=h, json={"project_ids": None, "min_severity": "high"})
    assert r.status_code == 200, r.text
    assert r.json()["project_ids"] is None and r.json()["min_severity"] == "high"
    (update,) = await audit_events(tenant, action="webhook.update")
    assert update["metadata"]["changes"]["min_severity"] == {"from": None, "to": "high"}
    assert update["metadata"]["changes"]["project_ids"]["to"] is None
