"""Delivery: signed requests after commit, the retry schedule, dead letters, final 4xx, 410,
the circuit breaker, hanging and huge receivers, and the SSRF guard at send time."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import httpx
import pytest
from standardwebhooks import Webhook

from app.core import clock
from app.core.outbox import emit
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.webhooks import dispatcher
from tests.conftest import Tenant, app_with, asgi_client, assert_problem, audit_events, runtime_with
from tests.webhooks.conftest import Receiver, Reply
from tests.webhooks.helpers import (
    deliver,
    deliveries,
    emit_events,
    notified_worker,
    register,
    signed_by,
    subscribed_hook,
    validate_event,
)

SCHEDULE = [1.0, 2.0, 4.0, 8.0, 16.0]


async def test_event_is_delivered_after_commit_signed_both_ways(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook(Reply(200, b'{"received": true}'))
    endpoint = await register(client, tenant, hook.url, ["project.created"])
    r = await client.post("/api/v1/projects", headers=tenant.headers, json={"name": "Payments"})
    assert r.status_code == 201
    project = r.json()
    # committed: the event and its delivery exist; nothing was sent during the request
    (event,) = await tenant.sql("SELECT id, type, created_at FROM outbox_events")
    (row,) = await deliveries(tenant)
    assert row["status"] == "pending" and row["event_id"] == event["id"]
    assert hook.requests == []

    await deliver(runtime, tenant)
    (got,) = await hook.wait_for(1)
    assert got.method == "POST" and got.headers["content-type"] == "application/json"
    assert got.headers["x-drift-webhook-id"] == got.headers["webhook-id"] == str(event["id"])
    assert got.headers["x-drift-timestamp"] == got.headers["webhook-timestamp"]
    assert got.headers["x-drift-event-type"] == "project.created"
    # verified independently: an HMAC computed by hand, and the standardwebhooks library
    assert signed_by(endpoint["secret"], got)
    payload = Webhook(endpoint["secret"]).verify(got.body, got.headers)
    assert payload["data"] == {"project_id": project["id"], "name": "Payments",
                               "slug": "payments"}
    assert payload["id"] == str(event["id"]) and payload["type"] == "project.created"
    assert payload["tenant_id"] == str(tenant.id)
    validate_event(payload)
    # a tampered body fails both checks
    tampered = got.body.replace(b"Payments", b"Payment$")
    with pytest.raises(Exception, match="signature"):
        Webhook(endpoint["secret"]).verify(tampered, got.headers)
    assert not signed_by(endpoint["secret"], type(got)(
        method=got.method, path=got.path, headers=got.headers, raw_headers=got.raw_headers,
        body=tampered, at=got.at))

    (row,) = await deliveries(tenant)
    assert row["status"] == "delivered" and row["attempt"] == 1
    assert row["status_code"] == 200 and row["response_body"] == '{"received": true}'
    assert row["delivered_at"] is not None and row["next_attempt_at"] is None
    assert row["latency_ms"] >= 0 and row["attempts_logged"] == 1
    # delivered once: another run sends nothing
    await deliver(runtime, tenant)
    assert len(hook.requests) == 1


async def test_only_active_subscribed_endpoints_get_deliveries(
        client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver) -> None:
    created = await register(client, tenant, receiver.hook().url, ["project.created"])
    deleted = await register(client, tenant, receiver.hook().url, ["project.deleted"])
    paused = await register(client, tenant, receiver.hook().url, ["project.created"])
    await client.patch(f"/api/v1/webhooks/{paused['id']}", headers=tenant.headers,
                       json={"active": False})
    p = (await client.post("/api/v1/projects", headers=tenant.headers,
                           json={"name": "A"})).json()
    await client.delete(f"/api/v1/projects/{p['id']}", headers=tenant.headers)
    rows = await deliveries(tenant)
    assert sorted((str(r["endpoint_id"]), r["event_type"]) for r in rows) == sorted(
        [(created["id"], "project.created"), (deleted["id"], "project.deleted")])


async def test_a_failed_request_leaves_no_event_and_no_delivery(
        client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver) -> None:
    await register(client, tenant, receiver.hook().url, ["project.created"])
    assert (await client.post("/api/v1/projects", headers=tenant.headers,
                              json={"name": "A", "slug": "a"})).status_code == 201
    dup = await client.post("/api/v1/projects", headers=tenant.headers,
                            json={"name": "B", "slug": "a"})
    assert_problem(dup, 409, "slug_taken")
    assert len(await tenant.sql("SELECT 1 FROM outbox_events")) == 1
    assert len(await deliveries(tenant)) == 1
    # and an emit in a transaction that rolls back leaves nothing either
    async def emit_then_fail() -> None:
        async with own_tx(tenant.rt.db, tenant.id) as tx:
            await emit(tx, "project.created", {"project_id": "x", "name": "y", "slug": "z"})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await emit_then_fail()
    assert len(await deliveries(tenant)) == 1


async def test_retries_on_500_follow_the_schedule_then_dead_letter(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook(Reply(500, b"upstream down"))
    await register(client, tenant, hook.url, ["sync.failed"], retry_policy="fast")
    clock.freeze()
    (event_id,) = await emit_events(tenant, 1)
    rt = runtime_with(runtime, webhook_retry_schedule=SCHEDULE)
    for n, step in enumerate(SCHEDULE, start=1):
        await deliver(rt, tenant)
        assert len(await hook.wait_for(n)) == n
        (row,) = await deliveries(tenant)
        assert row["status"] == "pending" and row["attempt"] == n
        assert row["status_code"] == 500 and row["response_body"] == "upstream down"
        # the next attempt is scheduled exactly `step` seconds after this one
        assert row["next_attempt_at"] == clock.now() + timedelta(seconds=step)
        clock.advance(timedelta(seconds=step) - timedelta(milliseconds=1))
        await deliver(rt, tenant)  # not due yet: nothing is sent
        assert len(hook.requests) == n
        clock.advance(timedelta(milliseconds=1))
    await deliver(rt, tenant)  # the 6th attempt, after 1+2+4+8+16 s: the last one
    await hook.wait_for(6)
    (row,) = await deliveries(tenant)
    assert row["status"] == "failed" and row["attempt"] == 6
    assert row["next_attempt_at"] is None and row["attempts_logged"] == 6
    # dead letter: nothing further, however long we wait
    clock.advance(timedelta(days=2))
    await deliver(rt, tenant)
    assert len(hook.requests) == 6
    assert set(hook.ids()) == {str(event_id)}  # the same webhook id on every retry
    assert len({r.body for r in hook.requests}) == 1  # and the same body
    attempts = await tenant.sql("SELECT attempt, status_code FROM webhook_delivery_attempts"
                                " ORDER BY attempt")
    assert [tuple(a) for a in attempts] == [(i, 500) for i in range(1, 7)]


async def test_backoff_observed_on_the_wall_clock_with_a_short_schedule(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook(Reply(503), Reply(500), Reply(200))
    await register(client, tenant, hook.url, ["sync.failed"])
    rt = runtime_with(runtime, webhook_retry_schedule=[0.2, 0.4])
    worker = notified_worker(rt, tenant, interval=0.05)
    task = asyncio.create_task(worker.run())
    try:
        await emit_events(tenant, 1)
        got = await hook.wait_for(3, timeout=15)
    finally:
        worker.stop()
        await task
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps  # at least the scheduled delays
    (row,) = await deliveries(tenant)
    assert row["status"] == "delivered" and row["attempt"] == 3


EXTENDED = [300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


async def test_extended_policy_retries_for_about_a_day_then_dead_letters(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook(Reply(503))
    endpoint = await register(client, tenant, hook.url, ["sync.failed"])
    assert endpoint["retry_policy"] == "extended"  # the default for a new endpoint
    clock.freeze()
    await emit_events(tenant, 1)
    for n, step in enumerate(SCHEDULE + EXTENDED, start=1):
        await deliver(runtime, tenant)
        await hook.wait_for(n)
        (row,) = await deliveries(tenant)
        assert row["status"] == "pending" and row["attempt"] == n
        assert row["next_attempt_at"] == clock.now() + timedelta(seconds=step)
        clock.advance(timedelta(seconds=step) - timedelta(milliseconds=1))
        await deliver(runtime, tenant)  # not due yet
        assert len(hook.requests) == n
        clock.advance(timedelta(milliseconds=1))
    await deliver(runtime, tenant)  # the 12th attempt, ~27.6 h after the first: the last
    await hook.wait_for(12)
    (row,) = await deliveries(tenant)
    assert row["status"] == "failed" and row["attempt"] == 12
    clock.advance(timedelta(days=3))
    await deliver(runtime, tenant)
    assert len(hook.requests) == 12


async def test_retry_policy_is_set_and_changed_through_the_api(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook(Reply(500))
    endpoint = await register(client, tenant, hook.url, ["sync.failed"], retry_policy="fast")
    assert endpoint["retry_policy"] == "fast"
    url = f"/api/v1/webhooks/{endpoint['id']}"
    r = await client.patch(url, headers=tenant.headers, json={"retry_policy": "forever"})
    assert r.status_code == 422, r.text
    assert (await client.get(url, headers=tenant.headers)).json()["retry_policy"] == "fast"
    clock.freeze()
    await emit_events(tenant, 1)
    for step in SCHEDULE:
        await deliver(runtime, tenant)
        clock.advance(timedelta(seconds=step))
    # switched before the last fast attempt: it goes on with the extended schedule
    r = await client.patch(url, headers=tenant.headers, json={"retry_policy": "extended"})
    assert r.status_code == 200 and r.json()["retry_policy"] == "extended"
    await deliver(runtime, tenant)
    await hook.wait_for(6)
    (row,) = await deliveries(tenant)
    assert row["status"] == "pending"
    assert row["next_attempt_at"] == clock.now() + timedelta(minutes=5)
    (event,) = await audit_events(tenant, action="webhook.update")
    assert event["metadata"]["changes"]["retry_policy"] == {"from": "fast", "to": "extended"}


async def test_retry_after_on_429_and_503_is_honoured_within_bounds(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook(Reply(429, headers=(("Retry-After", "100"),)),
                         Reply(503, headers=(("Retry-After", "86400"),)),
                         Reply(503, headers=(("Retry-After", "1"),)),
                         Reply(500, headers=(("Retry-After", "600"),)))
    await register(client, tenant, hook.url, ["sync.failed"])
    rt = runtime_with(runtime, webhook_retry_schedule=[1.0, 4.0, 8.0, 2.0])
    clock.freeze()
    await emit_events(tenant, 1)
    await deliver(rt, tenant)
    (row,) = await deliveries(tenant)
    assert row["status_code"] == 429  # asked for 100 s (more than the 1 s step): honoured
    assert row["next_attempt_at"] == clock.now() + timedelta(seconds=100)
    clock.advance(timedelta(seconds=100))
    await deliver(rt, tenant)
    (row,) = await deliveries(tenant)  # asked for a day: capped at one hour
    assert row["next_attempt_at"] == clock.now() + timedelta(hours=1)
    clock.advance(timedelta(hours=1))
    await deliver(rt, tenant)
    (row,) = await deliveries(tenant)  # asked for 1 s: never sooner than the 8 s step
    assert row["next_attempt_at"] == clock.now() + timedelta(seconds=8)
    clock.advance(timedelta(seconds=8))
    await deliver(rt, tenant)
    (row,) = await deliveries(tenant)  # a 500's Retry-After is not honoured: the 2 s step
    assert row["status_code"] == 500
    assert row["next_attempt_at"] == clock.now() + timedelta(seconds=2)


def test_retry_policy_units() -> None:
    assert dispatcher.next_delay([1, 2], 0, None) == 1
    assert dispatcher.next_delay([1, 2], 1, 30) == 30
    assert dispatcher.next_delay([1, 2], 1, 30, retry_after_max=10) == 10
    assert dispatcher.next_delay([100], 0, 30, retry_after_max=10) == 100
    assert dispatcher.next_delay([1, 2], 2, None) is None
    clock.freeze()
    later = clock.now() + timedelta(seconds=90)
    assert dispatcher.parse_retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT")) == \
        pytest.approx(90, abs=1)
    assert dispatcher.parse_retry_after("7") == 7
    assert dispatcher.parse_retry_after("soon") is None
    ok = dispatcher.Attempt(status_code=204)
    assert dispatcher.outcome(ok, 1, [1]) == ("delivered", None)
    for code in (400, 401, 404, 409, 422, 301, 302):
        assert dispatcher.outcome(dispatcher.Attempt(status_code=code), 1, [1]) == \
            ("failed", None), code
    for code in (429, 500, 502, 503, None):
        assert dispatcher.outcome(dispatcher.Attempt(status_code=code), 1, [1]) == \
            ("pending", 1), code
        assert dispatcher.outcome(dispatcher.Attempt(status_code=code), 2, [1]) == \
            ("failed", None), code


async def test_client_errors_are_final_and_redirects_are_not_followed(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    target = receiver.hook()
    bad = receiver.hook(Reply(400, b'{"error": "unknown event"}'))
    moved = receiver.hook(Reply(302, headers=(("Location", target.url),)))
    await register(client, tenant, bad.url, ["sync.failed"])
    await register(client, tenant, moved.url, ["sync.failed"])
    await emit_events(tenant, 1)
    await deliver(runtime, tenant)
    rows = {r["status_code"]: r for r in await deliveries(tenant)}
    assert set(rows) == {400, 302}
    for row in rows.values():
        assert row["status"] == "failed" and row["attempt"] == 1
        assert row["next_attempt_at"] is None
    assert rows[400]["response_body"] == '{"error": "unknown event"}'
    clock.advance(timedelta(minutes=5))
    await deliver(runtime, tenant)
    assert len(bad.requests) == 1 and len(moved.requests) == 1
    assert target.requests == []  # the redirect was not followed


async def test_410_disables_the_endpoint(client: httpx.AsyncClient, runtime: Runtime,
                                         tenant: Tenant, receiver: Receiver) -> None:
    hook = receiver.hook(Reply(410, b"gone"), Reply(200))
    endpoint = await register(client, tenant, hook.url, ["sync.failed"])
    rt = runtime_with(runtime, webhook_endpoint_concurrency=1)
    await emit_events(tenant, 3)
    await deliver(rt, tenant)
    got = (await client.get(f"/api/v1/webhooks/{endpoint['id']}",
                            headers=tenant.headers)).json()
    assert got["active"] is False and got["disabled_reason"] == "gone"
    assert len(hook.requests) == 1  # the others were not attempted
    rows = await deliveries(tenant)
    assert {r["status"] for r in rows} == {"failed"}
    assert sorted(r["error"] or "" for r in rows)[-1].startswith("endpoint disabled")
    (event,) = await audit_events(tenant, action="webhook.disabled")
    assert event["actor_type"] == "system" and event["metadata"]["reason"] == "gone"
    assert event["metadata"]["pending_deliveries_failed"] == 2
    # disabled: new events are not queued for it, and failed ones cannot be re-queued yet
    await emit_events(tenant, 1)
    assert len(await deliveries(tenant)) == 3
    r = await client.post(f"/api/v1/webhooks/{endpoint['id']}/recover", headers=tenant.headers,
                          json={"since": "2000-01-01T00:00:00Z"})
    assert r.status_code == 409 and r.json()["code"] == "webhook_inactive"
    # re-enabled and recovered: everything arrives
    assert (await client.patch(f"/api/v1/webhooks/{endpoint['id']}", headers=tenant.headers,
                               json={"active": True})).json()["active"] is True
    r = await client.post(f"/api/v1/webhooks/{endpoint['id']}/recover", headers=tenant.headers,
                          json={"since": "2000-01-01T00:00:00Z"})
    assert r.status_code == 202 and r.json()["requeued"] == 3
    await deliver(runtime, tenant)
    assert {r["status"] for r in await deliveries(tenant)} == {"delivered"}
    assert len(hook.requests) == 4


async def test_circuit_breaker_after_50_consecutive_failed_deliveries(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook(*[Reply(400)] * 49, Reply(200), Reply(400))
    endpoint = await register(client, tenant, hook.url, ["sync.failed"])
    url = f"/api/v1/webhooks/{endpoint['id']}"
    await emit_events(tenant, 49)
    await deliver(runtime, tenant)
    got = (await client.get(url, headers=tenant.headers)).json()
    assert got["active"] is True and got["consecutive_failures"] == 49
    await emit_events(tenant, 1)  # a success resets the count
    await deliver(runtime, tenant)
    assert (await client.get(url, headers=tenant.headers)).json()["consecutive_failures"] == 0
    await emit_events(tenant, 49)
    await deliver(runtime, tenant)
    got = (await client.get(url, headers=tenant.headers)).json()
    assert got["active"] is True and got["consecutive_failures"] == 49
    await emit_events(tenant, 1)  # the 50th in a row
    await deliver(runtime, tenant)
    got = (await client.get(url, headers=tenant.headers)).json()
    assert got["active"] is False and got["disabled_reason"] == "circuit_breaker"
    assert got["consecutive_failures"] == 50
    (event,) = await audit_events(tenant, action="webhook.disabled")
    assert event["metadata"]["reason"] == "circuit_breaker"
    assert event["metadata"]["consecutive_failures"] == 50
    assert len(hook.requests) == 100
    # re-enabling through PATCH resets the count (and is audited)
    patched = (await client.patch(url, headers=tenant.headers, json={"active": True})).json()
    assert patched["active"] is True and patched["consecutive_failures"] == 0
    assert patched["disabled_reason"] is None and patched["disabled_at"] is None
    (update,) = await audit_events(tenant, action="webhook.update")
    assert update["metadata"]["changes"]["active"] == {"from": False, "to": True}


async def test_a_hanging_receiver_does_not_hold_up_other_endpoints(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hang = receiver.hook(Reply(200, delay=60))
    healthy = receiver.hook()
    huge = receiver.hook(Reply(200, stream_bytes=20 * 2**20))
    for hook in (hang, healthy, huge):
        await register(client, tenant, hook.url, ["sync.failed"])
    rt = runtime_with(runtime, webhook_timeout=30.0)
    await emit_events(tenant, 1)
    run = asyncio.create_task(deliver(rt, tenant))
    await hang.wait_for(1)
    await healthy.wait_for(1)
    await huge.wait_for(1)
    by_url = {}
    for _ in range(500):  # the other two are recorded while the hanging one is in flight
        rows = await tenant.sql(
            "SELECT e.url, d.status, d.locked_until, d.response_body, d.error"
            " FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id")
        by_url = {r["url"]: r for r in rows}
        if by_url[healthy.url]["status"] == "delivered" and \
                by_url[huge.url]["status"] == "delivered":
            break
        await asyncio.sleep(0.02)
    assert by_url[healthy.url]["status"] == "delivered"
    assert by_url[huge.url]["status"] == "delivered"
    assert by_url[huge.url]["response_body"] == "x" * 1024  # truncated to 1 KB
    assert by_url[hang.url]["status"] == "pending"
    assert by_url[hang.url]["locked_until"] is not None  # still in flight
    assert not run.done()
    run.cancel()  # the worker stops: the hanging attempt is handed back, not lost
    with pytest.raises(asyncio.CancelledError):
        await run
    (row,) = await tenant.sql(
        "SELECT d.status, d.error, d.locked_until FROM webhook_deliveries d"
        " JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE e.url = $1", hang.url)
    assert row["status"] == "pending" and row["locked_until"] is None
    assert row["error"].startswith("interrupted")


async def test_a_receiver_that_does_not_answer_in_time_is_retried(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook(Reply(200, delay=60), Reply(200))
    await register(client, tenant, hook.url, ["sync.failed"])
    rt = runtime_with(runtime, webhook_timeout=0.3, webhook_retry_schedule=[30.0])
    clock.freeze()
    await emit_events(tenant, 1)
    await deliver(rt, tenant)
    (row,) = await deliveries(tenant)
    assert row["status"] == "pending" and row["status_code"] is None
    assert row["error"] == "timeout: no complete response within 0.3s"
    assert row["next_attempt_at"] == clock.now() + timedelta(seconds=30)
    clock.advance(timedelta(seconds=30))
    await deliver(rt, tenant)
    (row,) = await deliveries(tenant)
    assert row["status"] == "delivered" and row["attempt"] == 2


async def test_send_time_check_connects_to_the_vetted_address(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver,
        fake_dns: dict[str, list[str]]) -> None:
    """The name is resolved by our resolver (real DNS does not know it) and the socket goes
    to the address it returned; the Host header keeps the name."""
    fake_dns["hooks.test"] = ["127.0.0.1"]
    hook = receiver.hook()
    url = hook.url.replace("127.0.0.1", "hooks.test")
    await register(client, tenant, url, ["sync.failed"])
    await emit_events(tenant, 1)
    await deliver(runtime, tenant)
    (got,) = await hook.wait_for(1)
    assert got.headers["host"] == f"hooks.test:{receiver.port}"
    assert (await deliveries(tenant))[0]["status"] == "delivered"


async def test_dns_rebinding_is_refused_at_send_time(
        runtime: Runtime, tenant: Tenant, fake_dns: dict[str, list[str]]) -> None:
    fake_dns["rebind.example"] = ["93.184.216.34"]
    fake_dns["mixed.example"] = ["93.184.216.34"]
    strict_rt = runtime_with(runtime, webhook_allowed_cidrs=[])
    async with asgi_client(app_with(runtime, webhook_allowed_cidrs="")) as c:
        for host in ("rebind.example", "mixed.example"):
            r = await c.post("/api/v1/webhooks", headers=tenant.headers,
                             json={"url": f"https://{host}/hook", "events": ["sync.failed"]})
            assert r.status_code == 201, r.text
    # after registration the names start resolving to internal addresses
    fake_dns["rebind.example"] = ["127.0.0.1"]
    fake_dns["mixed.example"] = ["93.184.216.34", "169.254.169.254"]
    await emit_events(tenant, 1)
    await deliver(strict_rt, tenant)
    rows = await tenant.sql(
        "SELECT e.url, d.status, d.error, d.next_attempt_at, d.status_code"
        " FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id")
    errors = {r["url"]: r for r in rows}
    assert errors["https://rebind.example/hook"]["error"] == (
        "blocked: rebind.example resolves to 127.0.0.1, a loopback address; webhooks are "
        "only delivered to public addresses.")
    assert "169.254.169.254" in errors["https://mixed.example/hook"]["error"]
    for r in rows:  # refused by policy: final, nothing was sent
        assert r["status"] == "failed" and r["next_attempt_at"] is None
        assert r["status_code"] is None


async def test_notify_wakes_the_worker(client: httpx.AsyncClient, runtime: Runtime,
                                       tenant: Tenant, receiver: Receiver) -> None:
    """A one-hour poll interval proves that the NOTIFY, not the timer, wakes the job."""
    hook = await subscribed_hook(client, tenant, receiver, ["project.created"])
    worker = notified_worker(runtime, tenant)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.5)  # listening, first (empty) run done
        await client.post("/api/v1/projects", headers=tenant.headers, json={"name": "N"})
        (got,) = await hook.wait_for(1, timeout=10)
        assert got.json()["type"] == "project.created"
    finally:
        worker.stop()
        await task
