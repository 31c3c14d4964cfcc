"""The test endpoint (synchronous signed ping), secret rotation with a grace period, and the
deliveries log with retry and recover."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from standardwebhooks import Webhook

from app.core import clock
from app.core.runtime import Runtime
from tests.conftest import Tenant, assert_problem, audit_events
from tests.webhooks.conftest import Receiver, Reply
from tests.webhooks.helpers import (
    deliver,
    deliveries,
    emit_events,
    register,
    signed_by,
    validate_event,
)


async def test_test_endpoint_delivers_a_signed_ping(client: httpx.AsyncClient,
                                                    runtime: Runtime, tenant: Tenant,
                                                    receiver: Receiver) -> None:
    hook = receiver.hook(Reply(200, b"pong", delay=0.5))
    endpoint = await register(client, tenant, hook.url, ["project.created"])

    async def open_transactions_while_the_receiver_holds_the_request() -> int:
        await hook.wait_for(1)
        count: int = await runtime.db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = current_user"
            " AND state LIKE 'idle in transaction%'")
        return count

    probe = asyncio.create_task(open_transactions_while_the_receiver_holds_the_request())
    r = await client.post(f"/api/v1/webhooks/{endpoint['id']}/test", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert await probe == 0  # the HTTP call ran outside any open transaction
    result = r.json()
    assert result["success"] is True
    d = result["delivery"]
    assert d["event_type"] == "ping" and d["status"] == "delivered" and d["attempt"] == 1
    assert d["status_code"] == 200 and d["response_body"] == "pong"
    assert d["latency_ms"] >= 400 and d["next_attempt_at"] is None

    (got,) = hook.requests
    assert signed_by(endpoint["secret"], got)
    payload = Webhook(endpoint["secret"]).verify(got.body, got.headers)
    validate_event(payload)
    assert payload["type"] == "ping" and payload["id"] == d["event_id"]
    assert payload["data"]["endpoint_id"] == endpoint["id"]
    # logged like any delivery, audited, and never retried
    listed = (await client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries",
                               headers=tenant.headers)).json()
    assert [x["id"] for x in listed["data"]] == [d["id"]]
    (event,) = await audit_events(tenant, action="webhook.test")
    assert event["outcome"] == "success" and event["metadata"]["delivery_id"] == d["id"]
    assert event["request_id"] == r.headers["x-request-id"]
    clock.advance(timedelta(hours=1))
    await deliver(runtime, tenant)
    assert len(hook.requests) == 1


async def test_test_endpoint_reports_a_failing_receiver(client: httpx.AsyncClient,
                                                        tenant: Tenant,
                                                        receiver: Receiver) -> None:
    hook = receiver.hook(Reply(500, b"boom"), Reply(410))
    endpoint = await register(client, tenant, hook.url, ["ping"])
    for status in (500, 410):
        r = await client.post(f"/api/v1/webhooks/{endpoint['id']}/test",
                              headers=tenant.headers)
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["success"] is False
        assert result["delivery"]["status"] == "failed"
        assert result["delivery"]["status_code"] == status
    assert result["delivery"]["next_attempt_at"] is None
    # a test ping neither trips the breaker nor disables the endpoint (even on 410)
    got = (await client.get(f"/api/v1/webhooks/{endpoint['id']}",
                            headers=tenant.headers)).json()
    assert got["active"] is True and got["consecutive_failures"] == 0
    events = await audit_events(tenant, action="webhook.test")
    assert [e["outcome"] for e in events] == ["failure", "failure"]


async def test_test_endpoint_reports_an_unreachable_receiver(
        client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver) -> None:
    from tests.conftest import free_port

    endpoint = await register(client, tenant, f"http://127.0.0.1:{free_port()}/nothing",
                              ["ping"])
    r = await client.post(f"/api/v1/webhooks/{endpoint['id']}/test", headers=tenant.headers)
    assert r.status_code == 200
    d = r.json()["delivery"]
    assert r.json()["success"] is False and d["status_code"] is None
    assert d["error"].startswith("connection")


async def test_rotation_signs_with_both_secrets_during_the_grace_period(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook()
    endpoint = await register(client, tenant, hook.url, ["sync.failed"])
    old = endpoint["secret"]
    url = f"/api/v1/webhooks/{endpoint['id']}/rotate-secret"
    r = await client.post(url, headers=tenant.headers)  # default grace: one day
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new.startswith("whsec_") and new != old
    expires = r.json()["previous_secret_expires_at"]

    await emit_events(tenant, 1)
    await deliver(runtime, tenant)
    (during,) = await hook.wait_for(1)
    assert len(during.headers["x-drift-signature"].split(",")) == 2
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert signed_by(old, during) and signed_by(new, during)
    Webhook(old).verify(during.body, during.headers)
    Webhook(new).verify(during.body, during.headers)

    # after the grace period only the new secret signs
    clock.advance(timedelta(days=1, seconds=1))
    await emit_events(tenant, 1)
    await deliver(runtime, tenant)
    after = (await hook.wait_for(2))[1]
    assert len(after.headers["x-drift-signature"].split(",")) == 1
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert signed_by(new, after) and not signed_by(old, after)

    (event,) = await audit_events(tenant, action="webhook.rotate_secret")
    assert event["metadata"]["grace_period_seconds"] == 86400
    assert event["metadata"]["previous_secrets_expire_at"].startswith(expires[:19])
    assert new not in str(event["metadata"]) and old not in str(event["metadata"])


async def test_rotation_without_grace_and_twice_in_a_row(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook()
    endpoint = await register(client, tenant, hook.url, ["sync.failed"])
    url = f"/api/v1/webhooks/{endpoint['id']}/rotate-secret"
    first = (await client.post(url, headers=tenant.headers,
                               json={"grace_period_seconds": 3600})).json()["secret"]
    second = (await client.post(url, headers=tenant.headers,
                                json={"grace_period_seconds": 600})).json()["secret"]
    await emit_events(tenant, 1)
    await deliver(runtime, tenant)
    (got,) = await hook.wait_for(1)
    # three valid secrets: three signatures, newest first
    assert len(got.headers["webhook-signature"].split(" ")) == 3
    assert all(signed_by(s, got) for s in (endpoint["secret"], first, second))
    # grace 0: the previous secrets stop at once
    third = (await client.post(url, headers=tenant.headers,
                               json={"grace_period_seconds": 0})).json()["secret"]
    await emit_events(tenant, 1)
    await deliver(runtime, tenant)
    latest = (await hook.wait_for(2))[1]
    assert latest.headers["x-drift-signature"].count("sha256=") == 1
    assert signed_by(third, latest)
    assert not any(signed_by(s, latest) for s in (endpoint["secret"], first, second))
    Webhook(third).verify(latest.body, latest.headers)
    for bad in (-1, 604801, "soon"):
        r = await client.post(url, headers=tenant.headers, json={"grace_period_seconds": bad})
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] == "grace_period_seconds"


async def test_deliveries_log_filters_and_pages(client: httpx.AsyncClient, runtime: Runtime,
                                               tenant: Tenant, receiver: Receiver) -> None:
    hook = receiver.hook(Reply(400, b"no"), Reply(200))
    endpoint = await register(client, tenant, hook.url, ["sync.failed", "project.created"])
    base = f"/api/v1/webhooks/{endpoint['id']}/deliveries"
    rt_one = {"webhook_endpoint_concurrency": 1}
    await emit_events(tenant, 1)
    await deliver(runtime, tenant, **rt_one)  # the first answer is 400: failed
    await emit_events(tenant, 2)
    await client.post("/api/v1/projects", headers=tenant.headers, json={"name": "P"})
    await deliver(runtime, tenant, **rt_one)
    assert len(hook.requests) == 4

    everything = (await client.get(base, headers=tenant.headers)).json()
    assert everything["pagination"]["total"] == 4
    rows = everything["data"]
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows),
                                                     reverse=True)  # newest first
    for row in rows:
        assert set(row) >= {"event_type", "event_id", "status", "attempt", "status_code",
                            "response_body", "latency_ms", "delivered_at", "next_attempt_at"}
    failed = (await client.get(f"{base}?status=failed", headers=tenant.headers)).json()
    assert [(r["status"], r["status_code"], r["response_body"]) for r in failed["data"]] == [
        ("failed", 400, "no")]
    projects = (await client.get(f"{base}?event_type=project.created",
                                 headers=tenant.headers)).json()
    assert [r["event_type"] for r in projects["data"]] == ["project.created"]
    page1 = (await client.get(f"{base}?limit=3", headers=tenant.headers)).json()
    page2 = (await client.get(f"{base}?limit=3&cursor={page1['pagination']['cursor']}",
                              headers=tenant.headers)).json()
    assert page1["pagination"]["has_more"] and not page2["pagination"]["has_more"]
    assert [r["id"] for r in page1["data"] + page2["data"]] == [r["id"] for r in rows]
    for bad, status, code in (("status=lost", 422, "validation_error"),
                              ("event_type=nope", 422, "validation_error"),
                              ("limit=0", 422, "validation_error"),
                              ("limit=201", 422, "validation_error"),
                              ("cursor=!!", 400, "invalid_cursor")):
        r = await client.get(f"{base}?{bad}", headers=tenant.headers)
        assert_problem(r, status, code, context=bad)

    detail = (await client.get(f"{base}/{failed['data'][0]['id']}",
                               headers=tenant.headers)).json()
    assert detail["attempts"] == [{
        "attempt": 1, "attempted_at": detail["attempts"][0]["attempted_at"],
        "status_code": 400, "latency_ms": detail["attempts"][0]["latency_ms"],
        "error": None, "response_body": "no"}]


async def test_retry_and_recover_requeue_failed_deliveries(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook(Reply(500))
    endpoint = await register(client, tenant, hook.url, ["sync.failed"],
                              retry_policy="fast")
    base = f"/api/v1/webhooks/{endpoint['id']}"
    clock.freeze()
    await emit_events(tenant, 3)
    for step in (1, 2, 4, 8, 16, 0):  # let all three exhaust their retries
        await deliver(runtime, tenant)
        clock.advance(timedelta(seconds=step))
    rows = await deliveries(tenant)
    assert {(r["status"], r["attempt"]) for r in rows} == {("failed", 6)}
    hook.script = [Reply(200)]

    one = rows[0]["id"]
    r = await client.post(f"{base}/deliveries/{one}/retry", headers=tenant.headers)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"
    assert r.json()["next_attempt_at"] is not None
    again = await client.post(f"{base}/deliveries/{one}/retry", headers=tenant.headers)
    assert again.status_code == 409 and again.json()["code"] == "delivery_not_failed"
    await deliver(runtime, tenant)
    (row,) = await deliveries(tenant, "d.id = $1", one)
    assert row["status"] == "delivered" and row["attempt"] == 7  # the log keeps counting
    retried_ids = hook.ids()[-1]
    assert retried_ids == str(row["event_id"])  # same webhook id as the original attempts

    future = (clock.now() + timedelta(hours=1)).isoformat()
    r = await client.post(f"{base}/recover", headers=tenant.headers, json={"since": future})
    assert r.status_code == 400 and r.json()["code"] == "invalid_since"
    r = await client.post(f"{base}/recover", headers=tenant.headers,
                          json={"since": "2020-01-01T00:00:00"})
    assert r.status_code == 422  # a time zone is required
    since = (clock.now() - timedelta(hours=1)).isoformat()
    r = await client.post(f"{base}/recover", headers=tenant.headers, json={"since": since})
    assert r.status_code == 202 and r.json()["requeued"] == 2
    await deliver(runtime, tenant)
    assert {r["status"] for r in await deliveries(tenant)} == {"delivered"}
    actions = [e["action"] for e in await audit_events(tenant, resource_type="webhook")]
    assert actions.count("webhook.retry") == 1 and actions.count("webhook.recover") == 1
    missing = await client.post(
        f"{base}/deliveries/00000000-0000-0000-0000-000000000000/retry",
        headers=tenant.headers)
    assert_problem(missing, 404, "not_found")


@pytest.mark.parametrize("grace", [None, {}])
async def test_rotate_secret_body_is_optional(client: httpx.AsyncClient, tenant: Tenant,
                                              receiver: Receiver,
                                              grace: dict[str, int] | None) -> None:
    endpoint = await register(client, tenant, receiver.hook().url, ["ping"])
    kwargs = {} if grace is None else {"json": grace}
    r = await client.post(f"/api/v1/webhooks/{endpoint['id']}/rotate-secret",
                          headers=tenant.headers, **kwargs)
    assert r.status_code == 200, r.text
