"""Every source of events, and every event type's real payload checked against its schema."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from app.auth.service import create_api_key, deprovision_user
from app.core import clock
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.webhooks import expiring
from tests.conftest import Tenant, runtime_with
from tests.scim.conftest import USER_URN, Scim, scim_client
from tests.webhooks.conftest import Receiver, Reply
from tests.webhooks.helpers import (
    ALL_EVENTS,
    deliver,
    emit_events,
    register,
    subscribed_hook,
    validate_event,
)


async def _key(t: Tenant, user_id: Any, name: str, days: float | None) -> dict[str, Any]:
    async with own_tx(t.rt.db, t.id) as tx:
        expires = clock.now() + timedelta(days=days) if days is not None else None
        return await create_api_key(tx, user_id=user_id, name=name, expires_at=expires)


async def test_apikey_expiring_is_sent_once_per_key(client: httpx.AsyncClient,
                                                    runtime: Runtime, tenant: Tenant,
                                                    receiver: Receiver) -> None:
    hook = await subscribed_hook(client, tenant, receiver, ["apikey.expiring"])
    soon = await _key(tenant, tenant.owner.id, "ci (3 days)", 3)
    later = await _key(tenant, tenant.owner.id, "deploy (10 days)", 10)
    await _key(tenant, tenant.owner.id, "forever", None)
    revoked = await _key(tenant, tenant.owner.id, "revoked (2 days)", 2)
    await tenant.sql("UPDATE api_keys SET revoked_at = now() WHERE id = $1", revoked["id"])

    await expiring.announce(runtime)
    await deliver(runtime, tenant)
    (got,) = await hook.wait_for(1)
    event = got.json()
    validate_event(event)
    assert event["type"] == "apikey.expiring"
    assert event["data"]["key_id"] == str(soon["id"]) and event["data"]["name"] == "ci (3 days)"
    assert event["data"]["prefix"] == soon["prefix"]
    assert event["data"]["user_id"] == str(tenant.owner.id)
    assert event["data"]["user_email"] == tenant.owner.email

    # once per key: later runs in the same window announce nothing new for this tenant
    await expiring.announce(runtime)
    assert len(await tenant.sql("SELECT 1 FROM outbox_events WHERE type = 'apikey.expiring'")
               ) == 1
    # four days on, the 10-day key enters the 7-day window
    clock.advance(timedelta(days=4))
    await expiring.announce(runtime)
    rows = await tenant.sql("SELECT data FROM outbox_events WHERE type = 'apikey.expiring'"
                            " ORDER BY created_at")
    assert [r["data"]["key_id"] for r in rows] == [str(soon["id"]), str(later["id"])]
    notified = await tenant.sql("SELECT name FROM api_keys WHERE expiry_notified_at IS NOT NULL"
                                " ORDER BY name")
    assert [r["name"] for r in notified] == ["ci (3 days)", "deploy (10 days)"]


async def test_user_deprovisioned_is_delivered(client: httpx.AsyncClient, runtime: Runtime,
                                               tenant: Tenant, receiver: Receiver) -> None:
    hook = await subscribed_hook(client, tenant, receiver, ["user.deprovisioned"])
    user = await tenant.add_user("member")
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        await deprovision_user(tx, user.id, source="scim")
    await deliver(runtime, tenant)
    (got,) = await hook.wait_for(1)
    event = got.json()
    validate_event(event)
    assert event["data"]["user_id"] == str(user.id) and event["data"]["source"] == "scim"
    assert event["data"]["api_keys_revoked"] == 1


async def test_scim_provisioning_and_reactivation_are_delivered(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    """SCIM writes user.provisioned and user.reactivated: an endpoint can subscribe to them."""
    hook = await subscribed_hook(client, tenant, receiver, ["user.provisioned", "user.reactivated"])
    scim = await scim_client(client, tenant)
    user = await scim.create_user("back@example.com", externalId="00u42",
                                  emails=[{"value": "back@example.com", "primary": True}])
    for active in ("False", "True"):
        r = await scim.patch(f"/Users/{user['id']}", Scim.ops(
            {"op": "Replace", "path": "active", "value": active}))
        assert r.status_code == 200, r.text
    await deliver(runtime, tenant)
    got = await hook.wait_for(2)
    events = sorted((g.json() for g in got), key=lambda e: str(e["type"]))
    for event in events:
        validate_event(event)
    assert [e["type"] for e in events] == ["user.provisioned", "user.reactivated"]
    for event in events:
        assert event["data"] == {"user_id": user["id"], "user_name": "back@example.com",
                                 "email": "back@example.com", "external_id": "00u42",
                                 "active": True, "source": "scim"}


WIDER = {"user.updated", "member.added", "member.removed", "member.role_changed",
         "team.created", "team.updated", "team.deleted", "team.member.added",
         "team.member.removed", "invitation.created", "invitation.accepted",
         "invitation.revoked", "ip_allowlist.changed"}


async def test_every_event_type_validates_against_its_schema(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    """One real payload of each type, produced by its real source."""
    hook = receiver.hook()
    endpoint = await register(client, tenant, hook.url, ALL_EVENTS)
    # the webhook.* alerts: one endpoint exhausts a delivery then recovers, one answers 410
    sick = receiver.hook(Reply(503), Reply(200))
    await register(client, tenant, sick.url, ["sync.failed"], retry_policy="fast")
    gone_hook = receiver.hook(Reply(410))
    await register(client, tenant, gone_hook.url, ["grounding.degraded"])
    h = tenant.headers
    pid = (await client.post("/api/v1/projects", headers=h, json={"name": "Web"})).json()["id"]
    gone = (await client.post("/api/v1/projects", headers=h, json={"name": "Old"})).json()
    await client.delete(f"/api/v1/projects/{gone['id']}", headers=h)
    sync = await client.post("/api/v1/sync", headers=h, json={
        "project_id": pid,
        "scan": {"id": "s1", "started_at": "2026-11-21T10:00:00+01:00",
                 "completed_at": "2026-11-21T10:00:05+01:00", "files_scanned": 3,
                 "duration_ms": 5000, "counts": {"critical": 1}},
        "gate_results": [{"gate": "security", "passed": False, "score": 0, "threshold": 1}],
        "violations": [{"fingerprint": "f1", "rule": "r1", "severity": "critical",
                        "file": "a.py", "line": None, "message": "m"}]})
    assert sync.status_code == 201, sync.text
    for body in ({"type": "grounding.degraded",
                  "data": {"project_id": pid, "memory_id": "m1", "old_score": 0.9,
                           "new_score": 0.5}},
                 {"type": "sync.failed", "data": {"project_id": pid, "scan_id": "s2",
                                                  "error": "401 from the server",
                                                  "retry_count": 0, "error_code": "E_AUTH",
                                                  "occurred_at": "2026-11-21T10:00:00Z"}}):
        assert (await client.post("/api/v1/events", headers=h, json=body)).status_code == 201
    user = await tenant.add_user("viewer", email=None)
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        await deprovision_user(tx, user.id, source="members_api")
    scim = await scim_client(client, tenant)
    scim_user = await scim.create_user("idp@example.com")  # user.provisioned
    for active in (False, True):  # user.deprovisioned, user.reactivated
        r = await scim.put(f"/Users/{scim_user['id']}", {
            "schemas": [USER_URN], "userName": "idp@example.com", "active": active})
        assert r.status_code == 200, r.text
    await _key(tenant, tenant.owner.id, "expiring", 1)
    await expiring.announce(runtime)
    assert (await client.post(f"/api/v1/webhooks/{endpoint['id']}/test",
                              headers=h)).json()["success"] is True
    rt = runtime_with(runtime, webhook_retry_schedule=[])
    await deliver(rt, tenant)
    await emit_events(tenant, 1)  # to the sick endpoint, which now answers: recovered
    await deliver(rt, tenant)
    await deliver(rt, tenant)
    got = await hook.wait_for(18)
    events = [g.json() for g in got]
    for event in events:
        validate_event(event)
        assert event["tenant_id"] == str(tenant.id)
    # the team, member, invitation, user.updated and allowlist events: test_catalog_sources
    assert {e["type"] for e in events} == set(ALL_EVENTS) - WIDER
    assert len({e["id"] for e in events}) == len(events)
