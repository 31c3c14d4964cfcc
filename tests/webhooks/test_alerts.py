"""Operational alerts: an endpoint disabled by the breaker, a delivery that exhausts its
retries, and an endpoint that recovers email the tenant's owner and admins and emit
webhook.* events to the tenant's other endpoints (never to the endpoint they are about)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from app.core import clock
from app.core.runtime import Runtime
from tests.conftest import Tenant, runtime_with
from tests.webhooks.conftest import Hook, Receiver, Reply
from tests.webhooks.helpers import deliver, emit_events, register, validate_event

ALERTS = ["webhook.endpoint.disabled", "webhook.delivery.exhausted",
          "webhook.endpoint.recovered"]


async def alert_emails(t: Tenant) -> list[tuple[str, str]]:
    rows = await t.sql("SELECT to_address, subject FROM email_outbox"
                       " WHERE kind = 'webhook_alert' ORDER BY created_at, to_address")
    return [(r[0], r[1]) for r in rows]


def alerts_in(hook: Hook) -> list[dict[str, Any]]:
    events = [e for e in hook.events() if e["type"].startswith("webhook.")]
    for e in events:
        validate_event(e)
    return events


async def test_breaker_disable_and_re_enable_alert_admins_and_other_endpoints(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    admin = await tenant.add_user("admin")
    await tenant.add_user("member")
    failing = receiver.hook(Reply(400))
    watcher = receiver.hook()
    bad = await register(client, tenant, failing.url, ["sync.failed", *ALERTS])
    await register(client, tenant, watcher.url, ALERTS)
    rt = runtime_with(runtime, webhook_disable_after_failures=2)
    await emit_events(tenant, 2)
    await deliver(rt, tenant)
    await deliver(rt, tenant)
    (event,) = alerts_in(watcher)
    assert event["type"] == "webhook.endpoint.disabled"
    assert event["data"]["endpoint_id"] == bad["id"]
    assert event["data"]["reason"] == "circuit_breaker"
    assert event["data"]["consecutive_failures"] == 2
    assert alerts_in(failing) == []  # never told about itself
    emails = await alert_emails(tenant)
    assert sorted(a for a, _ in emails) == sorted([tenant.owner.email, admin.email])
    assert all("webhook endpoint disabled" in s for _, s in emails)
    got = (await client.get(f"/api/v1/webhooks/{bad['id']}", headers=tenant.headers)).json()
    assert got["failing_since"] is not None
    # a user re-enables it: recovered (re_enabled), and the failing state is cleared
    r = await client.patch(f"/api/v1/webhooks/{bad['id']}", headers=tenant.headers,
                           json={"active": True})
    assert r.status_code == 200 and r.json()["failing_since"] is None
    await deliver(rt, tenant)
    recovered = alerts_in(watcher)[1]
    assert recovered["type"] == "webhook.endpoint.recovered"
    assert recovered["data"]["reason"] == "re_enabled"
    assert recovered["data"]["endpoint_id"] == bad["id"]
    assert alerts_in(failing) == []
    assert len(await alert_emails(tenant)) == 4


async def test_exhausted_deliveries_alert_once_per_episode_until_recovery(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    flaky = receiver.hook(Reply(503), Reply(503), Reply(500), Reply(500), Reply(200))
    watcher = receiver.hook()
    ep = await register(client, tenant, flaky.url, ["sync.failed", *ALERTS],
                        retry_policy="fast")
    await register(client, tenant, watcher.url, ALERTS)
    rt = runtime_with(runtime, webhook_retry_schedule=[1.0])
    clock.freeze()
    for _ in range(2):  # two deliveries, each fails twice: both exhausted
        await emit_events(tenant, 1)
        await deliver(rt, tenant)
        clock.advance(timedelta(seconds=1))
        await deliver(rt, tenant)
        await deliver(rt, tenant)
    exhausted = alerts_in(watcher)
    assert [e["type"] for e in exhausted] == ["webhook.delivery.exhausted"] * 2
    assert exhausted[0]["data"]["endpoint_id"] == ep["id"]
    assert exhausted[0]["data"]["event_type"] == "sync.failed"
    assert exhausted[0]["data"]["attempts"] == 2
    assert {e["data"]["last_status_code"] for e in exhausted} == {503, 500}
    emails = await alert_emails(tenant)  # one email for the episode, not one per delivery
    assert [(a, "failing" in s) for a, s in emails] == [(tenant.owner.email, True)]
    # the next delivery succeeds: recovered, once
    await emit_events(tenant, 1)
    await deliver(rt, tenant)
    await deliver(rt, tenant)
    events = alerts_in(watcher)
    assert [e["type"] for e in events][2:] == ["webhook.endpoint.recovered"]
    assert events[2]["data"]["reason"] == "delivered"
    assert alerts_in(flaky) == []
    await emit_events(tenant, 1)
    await deliver(rt, tenant)
    await deliver(rt, tenant)
    assert len(alerts_in(watcher)) == 3  # healthy: no further alerts
    emails = await alert_emails(tenant)
    assert len(emails) == 2 and "recovered" in emails[1][1]


async def test_an_alert_delivery_that_fails_raises_no_further_alert(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    a = receiver.hook(Reply(500))
    b = receiver.hook(Reply(500))
    await register(client, tenant, a.url, ["sync.failed", *ALERTS], retry_policy="fast")
    await register(client, tenant, b.url, ALERTS, retry_policy="fast")
    rt = runtime_with(runtime, webhook_retry_schedule=[])
    await emit_events(tenant, 1)
    for _ in range(3):
        await deliver(rt, tenant)
    # a's sync.failed exhausted -> one alert to b; b's failed alert delivery raises none
    assert [e["type"] for e in b.events()] == ["webhook.delivery.exhausted"]
    assert [e["type"] for e in a.events()] == ["sync.failed"]
    rows = await tenant.sql("SELECT event_type, status FROM webhook_deliveries ORDER BY 1")
    assert [tuple(r) for r in rows] == [("sync.failed", "failed"),
                                        ("webhook.delivery.exhausted", "failed")]
