"""Receivers that hang, reset connections, trickle a response that never ends, or answer with
a huge body, next to a healthy one, all subscribed to the same events.

The worker's per-attempt limit is 10 s by default; here it is shortened to 1 s through the
settings and the test asserts what was recorded (never wall-clock durations): every bad
attempt ends as a timeout or a connection error, at most 1 KB of any response is kept, nothing
stays in flight, and the healthy endpoint gets all its events while the bad ones are still
stuck."""

from __future__ import annotations

import asyncio

import httpx

from app.config import Settings
from app.core.runtime import Runtime
from tests.conftest import Tenant
from tests.e2e.conftest import BadServer
from tests.webhooks.conftest import Receiver, Reply
from tests.webhooks.helpers import deliver, emit_events, register

EVENTS = 20
TIMEOUT = 1.0


async def test_bad_receivers_do_not_hold_up_a_healthy_one(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver,
        bad_server: BadServer) -> None:
    assert Settings().webhook_timeout == 10.0  # the default limit per attempt
    healthy = receiver.hook()
    hang = receiver.hook(Reply(200, delay=120))  # accepts the request, never answers
    huge = receiver.hook(Reply(200, stream_bytes=20 * 2**20))  # 20 MB answer
    urls = {"healthy": healthy.url, "hang": hang.url, "huge": huge.url,
            "reset": bad_server.url("reset"), "trickle": bad_server.url("trickle")}
    endpoint = {}
    for name, url in urls.items():
        # the fast schedule: these attempts must end (failed) within the test
        endpoint[(await register(client, tenant, url, ["sync.failed"],
                                 retry_policy="fast"))["id"]] = name
    event_ids = {str(e) for e in await emit_events(tenant, EVENTS)}

    async def state() -> dict[str, list[dict[str, object]]]:
        rows = await tenant.sql(
            "SELECT d.endpoint_id, d.event_id, d.status, d.attempt, d.status_code, d.error,"
            " d.response_body, d.locked_until FROM webhook_deliveries d")
        out: dict[str, list[dict[str, object]]] = {name: [] for name in urls}
        for r in rows:
            out[endpoint[str(r["endpoint_id"])]].append(dict(r))
        return out

    # one worker run with 4 slots per endpoint: the hanging and trickling endpoints occupy
    # theirs for a whole timeout per round
    run = asyncio.create_task(deliver(runtime, tenant, webhook_timeout=TIMEOUT,
                                      webhook_retry_schedule=[],
                                      webhook_endpoint_concurrency=4))
    try:
        await healthy.wait_for(EVENTS, timeout=60)
        while_stuck = await state()
        # every healthy event arrived while the hanging and trickling endpoints still had
        # deliveries waiting or in flight
        for name in ("hang", "trickle"):
            assert any(r["status"] == "pending" for r in while_stuck[name]), name
        assert not run.done()
        attempts = await asyncio.wait_for(run, 120)
    finally:
        if not run.done():
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)

    assert attempts == 5 * EVENTS  # one attempt per delivery: nothing sent twice
    final = await state()
    for name, rows in final.items():
        assert len(rows) == EVENTS and {str(r["event_id"]) for r in rows} == event_ids, name
        for r in rows:
            assert r["attempt"] == 1 and r["locked_until"] is None, (name, r)  # not in flight
            body = r["response_body"]
            assert body is None or len(str(body)) <= 1024, (name, r)
    assert sorted(healthy.ids()) == sorted(event_ids)  # each exactly once
    for r in final["healthy"]:
        assert (r["status"], r["status_code"]) == ("delivered", 200)
    for r in final["huge"]:  # delivered; only the first 1 KB of the 20 MB answer is kept
        assert (r["status"], r["status_code"], r["response_body"]) == (
            "delivered", 200, "x" * 1024)
    for name in ("hang", "trickle"):  # the limit applied, whether or not headers came
        for r in final[name]:
            assert (r["status"], r["status_code"], r["error"]) == (
                "failed", None, f"timeout: no complete response within {TIMEOUT:g}s"), name
    for r in final["reset"]:
        assert r["status"] == "failed" and r["status_code"] is None
        assert str(r["error"]).startswith("connection:"), r["error"]
    assert bad_server.requests == {"reset": EVENTS, "trickle": EVENTS}
    assert len(hang.requests) == EVENTS and len(huge.requests) == EVENTS
    # the attempt log keeps no more than 1 KB either
    longest = await tenant.sql("SELECT max(length(response_body)) AS n"
                               " FROM webhook_delivery_attempts")
    assert longest[0]["n"] == 1024
