"""POST /api/v1/events: grounding.degraded and sync.failed from the Drift client, validated
against their schemas."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from app.core.runtime import Runtime
from tests.conftest import Tenant, assert_problem, audit_events
from tests.webhooks.conftest import Receiver
from tests.webhooks.helpers import deliver, register, validate_event


async def _project(client: httpx.AsyncClient, t: Tenant) -> str:
    r = await client.post("/api/v1/projects", headers=t.headers, json={"name": "Core"})
    pid: str = r.json()["id"]
    return pid


async def test_client_events_are_validated_and_delivered(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook()
    endpoint = await register(client, tenant, hook.url, ["grounding.degraded", "sync.failed"])
    pid = await _project(client, tenant)
    member = await tenant.add_user("admin")
    degraded = {"project_id": pid, "memory_id": "mem_42", "old_score": 0.81,
                "new_score": 0.42, "threshold": 0.7,
                "message": "Grounding fell below the threshold"}
    r = await client.post("/api/v1/events", headers=member.headers,
                          json={"type": "grounding.degraded", "data": degraded})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["type"] == "grounding.degraded" and created["data"] == degraded
    assert created["tenant_id"] == str(tenant.id)
    # the Drift client's own payload: (error, retry_count), plus the project it is about
    failed = {"project_id": pid, "error": "upload timed out", "retry_count": 2}
    r = await client.post("/api/v1/events", headers=member.headers,
                          json={"type": "sync.failed", "data": failed})
    assert r.status_code == 201, r.text
    assert r.json()["data"] == {**failed, "scan_id": None, "error_code": None,
                                "occurred_at": None}  # optional fields are filled in

    await deliver(runtime, tenant)
    got = await hook.wait_for(2)
    payloads = [Webhook(endpoint["secret"]).verify(g.body, g.headers) for g in got]
    for p in payloads:
        validate_event(p)
    assert sorted(p["type"] for p in payloads) == ["grounding.degraded", "sync.failed"]
    assert next(p for p in payloads if p["type"] == "grounding.degraded")["id"] == \
        created["id"]
    events = await audit_events(tenant, action="event.submit")
    assert [e["metadata"]["type"] for e in events] == ["grounding.degraded", "sync.failed"]


DEGRADED = {"project_id": "P", "memory_id": "m1", "old_score": 0.9, "new_score": 0.3}
FAILED = {"project_id": "P", "error": "disk full", "retry_count": 1}


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "grounding.degraded", "data": {**DEGRADED, "project_id": None}},
     "data.project_id"),
    ({"type": "grounding.degraded", "data": {**DEGRADED, "new_score": 1.5}},
     "data.new_score"),
    ({"type": "grounding.degraded", "data": {k: v for k, v in DEGRADED.items()
                                             if k != "memory_id"}}, "data.memory_id"),
    ({"type": "grounding.degraded", "data": {k: v for k, v in DEGRADED.items()
                                             if k != "old_score"}}, "data.old_score"),
    ({"type": "grounding.degraded", "data": {**DEGRADED, "extra": 1}}, "data.extra"),
    # the old field names are gone
    ({"type": "grounding.degraded", "data": {"project_id": "P", "score": 0.2}},
     "data.memory_id"),
    ({"type": "sync.failed", "data": {**FAILED, "retry_count": -1}}, "data.retry_count"),
    ({"type": "sync.failed", "data": {k: v for k, v in FAILED.items() if k != "error"}},
     "data.error"),
    ({"type": "sync.failed", "data": {**FAILED, "occurred_at": "yesterday"}},
     "data.occurred_at"),
    ({"type": "sync.failed", "data": {**FAILED, "error_code": "bad code!"}},
     "data.error_code"),
    ({"type": "sync.failed", "data": {"project_id": "P", "error_code": "E", "message": "m",
                                      "occurred_at": "2026-01-01T00:00:00Z"}}, "data.error"),
    ({"type": "scan.completed", "data": {}}, "type"),
    ({"type": "ping", "data": {}}, "type"),
    ({"data": {}}, "type"),
])
async def test_invalid_events_are_422(client: httpx.AsyncClient, tenant: Tenant,
                                      body: dict[str, Any], field: str) -> None:
    pid = await _project(client, tenant)
    if body.get("data", {}).get("project_id") == "P":
        body["data"]["project_id"] = pid
    r = await client.post("/api/v1/events", headers=tenant.headers, json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert len(await tenant.sql("SELECT 1 FROM outbox_events")) == 1  # project.created only


async def test_events_need_write_access_to_the_project(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    pid = await _project(client, tenant)
    body = {"type": "grounding.degraded", "data": {**DEGRADED, "project_id": pid}}
    viewer = await tenant.add_user("viewer")
    assert (await client.post("/api/v1/events", headers=viewer.headers,
                              json=body)).status_code == 403
    member = await tenant.add_user("member")
    r = await client.post("/api/v1/events", headers=member.headers, json=body)
    assert r.status_code == 403 and r.json()["code"] == "project_access_denied"
    r = await client.post("/api/v1/events", headers=other_tenant.headers, json=body)
    assert_problem(r, 404, "not_found")
    unknown = {"type": "grounding.degraded", "data": {**DEGRADED,
                                                      "project_id": str(uuid.uuid4())}}
    assert_problem(await client.post("/api/v1/events", headers=tenant.headers,
                              json=unknown), 404, "not_found")
    assert len(await tenant.sql("SELECT 1 FROM outbox_events")) == 1
