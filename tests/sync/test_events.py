"""POST /api/v1/events: grounding.degraded and sync.failed from the Drift client, validated
against their schemas."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from app.core.runtime import Runtime
from tests.conftest import Tenant, audit_events
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
    degraded = {"project_id": pid, "score": 0.42, "threshold": 0.7, "previous_score": 0.81,
                "message": "Grounding fell below the threshold"}
    r = await client.post("/api/v1/events", headers=member.headers,
                          json={"type": "grounding.degraded", "data": degraded})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["type"] == "grounding.degraded" and created["data"] == degraded
    assert created["tenant_id"] == str(tenant.id)
    failed = {"project_id": pid, "error_code": "E_NETWORK", "message": "upload timed out",
              "occurred_at": "2026-11-21T10:00:00Z"}
    r = await client.post("/api/v1/events", headers=member.headers,
                          json={"type": "sync.failed", "data": failed})
    assert r.status_code == 201, r.text
    assert r.json()["data"]["scan_id"] is None  # optional fields are filled in

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


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "grounding.degraded", "data": {"score": 0.3}}, "data.project_id"),
    ({"type": "grounding.degraded", "data": {"project_id": "P", "score": 1.5}},
     "data.score"),
    ({"type": "grounding.degraded", "data": {"project_id": "P", "score": 0.2, "extra": 1}},
     "data.extra"),
    ({"type": "sync.failed", "data": {"project_id": "P", "error_code": "E",
                                      "message": "m", "occurred_at": "yesterday"}},
     "data.occurred_at"),
    ({"type": "sync.failed", "data": {"project_id": "P", "error_code": "bad code!",
                                      "message": "m", "occurred_at": "2026-01-01T00:00:00Z"}},
     "data.error_code"),
    ({"type": "scan.completed", "data": {}}, "type"),
    ({"type": "ping", "data": {}}, "type"),
    ({"data": {}}, "type"),
])
async def test_invalid_events_are_422(client: httpx.AsyncClient, tenant: Tenant,
                                      body: dict[str, Any], field: str) -> None:
    pid = await _project(client, tenant)
    if "project_id" in body.get("data", {}):
        body["data"]["project_id"] = pid
    r = await client.post("/api/v1/events", headers=tenant.headers, json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert len(await tenant.sql("SELECT 1 FROM outbox_events")) == 1  # project.created only


async def test_events_need_write_access_to_the_project(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    pid = await _project(client, tenant)
    body = {"type": "grounding.degraded", "data": {"project_id": pid, "score": 0.1}}
    viewer = await tenant.add_user("viewer")
    assert (await client.post("/api/v1/events", headers=viewer.headers,
                              json=body)).status_code == 403
    member = await tenant.add_user("member")
    r = await client.post("/api/v1/events", headers=member.headers, json=body)
    assert r.status_code == 403 and r.json()["code"] == "project_access_denied"
    r = await client.post("/api/v1/events", headers=other_tenant.headers, json=body)
    assert r.status_code == 404
    unknown = {"type": "grounding.degraded", "data": {"project_id": str(uuid.uuid4()),
                                                      "score": 0.1}}
    assert (await client.post("/api/v1/events", headers=tenant.headers,
                              json=unknown)).status_code == 404
    assert len(await tenant.sql("SELECT 1 FROM outbox_events")) == 1
