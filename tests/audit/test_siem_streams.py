"""Audit log streams to SIEMs: real receivers on loopback parse what each SIEM parses (Splunk
HEC's concatenated JSON events, Datadog's JSON array, signed NDJSON); every seq arrives, in
order, without gaps, through outages, worker restarts, pauses and backfills; another tenant's
events never appear."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from app.audit import siem_push
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.worker import Job, Worker
from tests.audit.conftest import record_events
from tests.conftest import Tenant, running
from tests.webhooks.conftest import Hook, Receiver, Reply

STREAMS = "/api/v1/audit/streams"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(siem_push, "BACKOFF", (0.0,))


# ---- what the SIEM parses ----

def hec_events(body: bytes) -> list[dict[str, Any]]:
    """Splunk HEC /services/collector/event: JSON event objects, concatenated (whitespace
    between them allowed), each {"time", "event", ...}."""
    text, out, i = body.decode(), [], 0
    decoder = json.JSONDecoder()
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return out
        obj, i = decoder.raw_decode(text, i)
        assert isinstance(obj["time"], float | int) and isinstance(obj["event"], dict), obj
        out.append(obj)


def datadog_logs(body: bytes) -> list[dict[str, Any]]:
    logs = orjson.loads(body)
    assert isinstance(logs, list) and 1 <= len(logs) <= 1000
    return list(logs)


def ndjson_events(body: bytes) -> list[dict[str, Any]]:
    assert body.endswith(b"\n")
    return [orjson.loads(line) for line in body.split(b"\n") if line]


def accepted(hook: Hook) -> list[Any]:
    """The requests the receiver answered with a 2xx, in arrival order."""
    return [r for i, r in enumerate(hook.requests) if 200 <= hook.reply_for(i).status < 300]


def accepted_seqs(hook: Hook, kind: str = "hec") -> list[int]:
    out: list[int] = []
    for r in accepted(hook):
        if kind == "hec":
            out += [e["event"]["seq"] for e in hec_events(r.body)]
        elif kind == "datadog":
            out += [e["drift"]["seq"] for e in datadog_logs(r.body)]
        else:
            out += [e["seq"] for e in ndjson_events(r.body)]
    return out


def assert_in_order_without_gaps(seqs: list[int], expected: list[int]) -> None:
    """At least once: a batch may arrive again, but never a gap and never out of order."""
    seen: list[int] = []
    for s in seqs:
        if s in seen:
            continue
        seen.append(s)
    assert seen == expected


async def head(t: Tenant) -> int:
    async with own_tx(t.rt.db, t.id) as tx:
        return int(await tx.fetchval("SELECT coalesce(max(last_seq), 0) FROM audit_chain"))


async def drain(rt: Runtime, *tenants: Tenant, rounds: int = 300) -> None:
    """Run the job until no active stream of these tenants is behind its log's head."""
    for _ in range(rounds):
        await siem_push.run_once(rt, tenants={t.id for t in tenants})
        behind = 0
        for t in tenants:
            async with own_tx(t.rt.db, t.id) as tx:
                behind += await tx.fetchval(
                    "SELECT count(*) FROM audit_streams s WHERE s.status = 'active' AND"
                    " s.delivered_through_seq < (SELECT last_seq FROM audit_chain)")
        if not behind:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the streams did not catch up")


async def create(client: httpx.AsyncClient, t: Tenant, **body: Any) -> dict[str, Any]:
    r = await client.post(STREAMS, headers=t.headers, json={"name": "siem", **body})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def get(client: httpx.AsyncClient, t: Tenant, sid: str) -> dict[str, Any]:
    r = await client.get(f"{STREAMS}/{sid}", headers=t.headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


# ---- formats ----

async def test_splunk_hec_gets_every_event_in_order_and_never_another_tenants(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant,
        receiver: Receiver) -> None:
    hook = receiver.hook(Reply(200, b'{"text":"Success","code":0}'))
    await record_events(tenant, 5)
    s = await create(client, tenant, type="splunk_hec", url=hook.url, token="hec-token-1",
                     from_seq=1, options={"sourcetype": "drift:audit:test", "index": "sec"})
    assert "token" not in s and "token_encrypted" not in s and s["signing_secret"] is None
    other_hook = receiver.hook()
    other_s = await create(client, other_tenant, type="splunk_hec", url=other_hook.url,
                           token="other", from_seq=1)
    for _ in range(3):
        await record_events(tenant, 800)
        await record_events(other_tenant, 300, action="project.delete")
    await drain(runtime, tenant, other_tenant)

    reqs = accepted(hook)
    assert reqs and all(r.headers["authorization"] == "Splunk hec-token-1" for r in reqs)
    assert all(len(hec_events(r.body)) <= siem_push.BATCH for r in reqs)
    events = [e for r in reqs for e in hec_events(r.body)]
    assert {e["sourcetype"] for e in events} == {"drift:audit:test"}
    assert {e["index"] for e in events} == {"sec"}
    n = await head(tenant)
    assert_in_order_without_gaps([e["event"]["seq"] for e in events], list(range(1, n + 1)))
    # HEC's time is the event's created_at, in epoch seconds
    first = events[-1]
    assert abs(first["time"] - _epoch(first["event"]["created_at"])) < 1e-5
    async with own_tx(runtime.db, other_tenant.id) as tx:
        theirs = {str(r[0]) for r in await tx.fetch("SELECT id FROM audit_events")}
    assert not theirs & {e["event"]["id"] for e in events}
    assert "project.delete" not in {e["event"]["action"] for e in events}

    got = await get(client, tenant, s["id"])
    assert got["delivered_through_seq"] == got["head_seq"] >= n
    assert got["last_success_at"] is not None and got["last_error"] is None
    assert got["delivered_events"] >= n
    assert (await get(client, other_tenant, other_s["id"]))["lag"] == 0
    assert {e["event"]["id"] for r in accepted(other_hook) for e in hec_events(r.body)} == theirs


def _epoch(stamp: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def test_datadog_gets_a_json_array_with_the_api_key_and_only_filtered_events(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
        ) -> None:
    hook = receiver.hook(Reply(202, b"{}"))
    s = await create(client, tenant, type="datadog", url=hook.url, token="dd-key-123",
                     filters={"action": "project.*"},
                     options={"service": "drift", "tags": "env:test"})
    await record_events(tenant, 1200, action="project.update")
    await record_events(tenant, 50, action="team.create")
    await record_events(tenant, 10, action="project.delete")
    await drain(runtime, tenant)

    reqs = accepted(hook)
    assert reqs and all(r.headers["dd-api-key"] == "dd-key-123" for r in reqs)
    logs = [log for r in reqs for log in datadog_logs(r.body)]
    assert {log["service"] for log in logs} == {"drift"}
    assert {log["ddtags"] for log in logs} == {"env:test"}
    assert all(log["message"] == f"{log['evt']['name']} {log['evt']['outcome']}"
               for log in logs)
    actions = [log["drift"]["action"] for log in logs]
    assert set(actions) == {"project.update", "project.delete"} and len(actions) == 1210
    seqs = [log["drift"]["seq"] for log in logs]
    assert seqs == sorted(seqs)
    got = await get(client, tenant, s["id"])
    assert got["delivered_through_seq"] == got["head_seq"] and got["lag"] == 0


async def test_ndjson_is_signed_with_standard_webhooks_headers(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
        ) -> None:
    hook = receiver.hook()
    s = await create(client, tenant, type="https_ndjson", url=hook.url)
    secret = s["signing_secret"]
    assert secret.startswith("whsec_")
    assert "signing_secret" not in (await get(client, tenant, s["id"]))
    await record_events(tenant, 30)
    await drain(runtime, tenant)
    reqs = accepted(hook)
    assert reqs
    key = base64.b64decode(secret.removeprefix("whsec_"))
    for r in reqs:
        msg_id, ts = r.headers["webhook-id"], r.headers["webhook-timestamp"]
        mac = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + r.body,
                                        hashlib.sha256).digest()).decode()
        assert f"v1,{mac}" in r.headers["webhook-signature"].split(" ")
        assert r.headers["content-type"] == "application/x-ndjson"
    seqs = accepted_seqs(hook, "ndjson")
    # the stream's own audit_stream.create is the first event after its start
    assert_in_order_without_gaps(seqs, list(range(s["delivered_through_seq"] + 1,
                                                  await head(tenant) + 1)))
    assert len(seqs) == 31


# ---- at least once, in order, resumable ----

async def test_a_destination_down_for_a_while_loses_nothing(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
        ) -> None:
    hook = receiver.hook(*[Reply(503, b"busy")] * 4, Reply(200))
    s = await create(client, tenant, type="splunk_hec", url=hook.url, token="t", from_seq=1)
    await record_events(tenant, 1500)
    await siem_push.run_once(runtime, tenants={tenant.id})
    down = await get(client, tenant, s["id"])
    assert down["delivered_through_seq"] == 0 and down["lag"] == down["head_seq"]
    assert down["consecutive_failures"] == 1 and "HTTP 503" in down["last_error"]
    await record_events(tenant, 700)
    await drain(runtime, tenant)
    assert len(hook.requests) > len(accepted(hook)) >= 3
    n = await head(tenant)
    assert_in_order_without_gaps(accepted_seqs(hook), list(range(1, n + 1)))
    up = await get(client, tenant, s["id"])
    assert up["delivered_through_seq"] == n and up["consecutive_failures"] == 0
    assert up["last_error"] is not None  # the last error stays visible after recovery


async def test_killing_the_worker_mid_stream_and_starting_another_loses_nothing(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
        ) -> None:
    # the first push hangs and is never acknowledged (the worker is killed while it waits);
    # after that a slow SIEM
    hook = receiver.hook(Reply(500, delay=2.0), Reply(200, delay=0.02))
    await create(client, tenant, type="splunk_hec", url=hook.url, token="t", from_seq=1)
    await record_events(tenant, 2000)

    async def run(rt: Runtime) -> int:
        return await siem_push.run_once(rt, tenants={tenant.id})

    def worker() -> Worker:
        return Worker(runtime, jobs=[Job("audit-streams", run, interval=0.2,
                                         channels=("drift_audit",))])

    first = worker()
    task = asyncio.create_task(first.run())
    await hook.wait_for(1)
    task.cancel()  # killed mid-push: no clean stop
    with pytest.raises(asyncio.CancelledError):
        await task
    await record_events(tenant, 1500)
    second = worker()
    task2 = asyncio.create_task(second.run())
    try:
        n = await head(tenant)
        for _ in range(600):
            if accepted_seqs(hook) and max(accepted_seqs(hook)) == n:
                break
            await asyncio.sleep(0.05)
        await record_events(tenant, 3)  # woken by NOTIFY (or the 0.2 s poll)
        await hook.wait_for(len(hook.requests) + 1)
    finally:
        second.stop()
        await task2
    assert_in_order_without_gaps(accepted_seqs(hook), list(range(1, await head(tenant) + 1)))


async def test_two_workers_never_push_the_same_stream_at_once(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
        ) -> None:
    hook = receiver.hook(Reply(200, delay=0.02))
    await create(client, tenant, type="splunk_hec", url=hook.url, token="t", from_seq=1)

    async def run(rt: Runtime) -> int:
        return await siem_push.run_once(rt, tenants={tenant.id})

    workers = [Worker(runtime, jobs=[Job("audit-streams", run, interval=0.05,
                                         channels=("drift_audit",))]) for _ in range(2)]
    async with running(workers):
        for _ in range(6):
            await record_events(tenant, 700)
        n = await head(tenant)
        for _ in range(600):
            if accepted_seqs(hook) and max(accepted_seqs(hook)) >= n:
                break
            await asyncio.sleep(0.05)
    seqs = accepted_seqs(hook)
    assert seqs == list(range(1, n + 1))  # every event once: no batch pushed by both


async def test_pause_stops_pushing_and_resume_continues_from_the_cursor(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
        ) -> None:
    hook = receiver.hook()
    s = await create(client, tenant, type="splunk_hec", url=hook.url, token="t")
    await record_events(tenant, 10)
    await drain(runtime, tenant)
    sent = len(hook.requests)
    assert sent >= 1
    r = await client.patch(f"{STREAMS}/{s['id']}", headers=tenant.headers,
                           json={"status": "paused"})
    assert r.status_code == 200 and r.json()["status"] == "paused"
    await record_events(tenant, 20)
    await drain(runtime, tenant)
    assert len(hook.requests) == sent
    paused = await get(client, tenant, s["id"])
    assert paused["lag"] >= 20
    r = await client.patch(f"{STREAMS}/{s['id']}", headers=tenant.headers,
                           json={"status": "active"})
    assert r.status_code == 200
    await drain(runtime, tenant)
    start = s["delivered_through_seq"]
    assert_in_order_without_gaps(accepted_seqs(hook),
                                 list(range(start + 1, await head(tenant) + 1)))


async def test_a_new_stream_starts_after_the_newest_event_and_backfill_resends(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
        ) -> None:
    hook = receiver.hook()
    await record_events(tenant, 40)
    before = await head(tenant)
    s = await create(client, tenant, type="splunk_hec", url=hook.url, token="t")
    assert s["delivered_through_seq"] == before + 0 or s["delivered_through_seq"] >= before
    await record_events(tenant, 5)
    await drain(runtime, tenant)
    assert min(accepted_seqs(hook)) > before
    hook.requests.clear()
    r = await client.patch(f"{STREAMS}/{s['id']}", headers=tenant.headers,
                           json={"from_seq": 10})
    assert r.status_code == 200 and r.json()["delivered_through_seq"] == 9
    await drain(runtime, tenant)
    assert_in_order_without_gaps(accepted_seqs(hook), list(range(10, await head(tenant) + 1)))


# ---- the API ----

async def test_bad_input_is_a_clear_400_and_nothing_is_stored(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    cases = [
        ({"type": "splunk_hec", "url": "https://10.1.2.3/services/collector", "token": "t"},
         "invalid_stream_url"),
        ({"type": "splunk_hec", "url": "http://127.0.0.1:1/x"}, "token_required"),
        ({"type": "https_ndjson", "url": "http://127.0.0.1:1/x", "token": "t"},
         "token_not_accepted"),
        ({"type": "datadog", "url": "http://127.0.0.1:1/x", "token": "t",
          "options": {"sourcetype": "x"}}, "option_not_applicable"),
        ({"type": "datadog", "url": "http://127.0.0.1:1/x", "token": "t",
          "filters": {"action": "Project.Delete!"}}, "invalid_action_filter"),
        ({"type": "datadog", "url": "http://127.0.0.1:1/x", "token": "t", "from_seq": 1,
          "from_time": "2026-01-01T00:00:00Z"}, "invalid_start"),
    ]
    for body, code in cases:
        r = await client.post(STREAMS, headers=tenant.headers, json={"name": "n", **body})
        assert r.status_code == 400, (body, r.text)
        assert r.json()["code"] == code, r.text
    r = await client.get(STREAMS, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["pagination"]["total"] == 0


async def test_streams_are_admin_only_tenant_scoped_audited_and_keep_tokens_secret(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, receiver: Receiver
        ) -> None:
    hook = receiver.hook()
    member = await tenant.add_user("member")
    r = await client.post(STREAMS, headers=member.headers,
                          json={"name": "n", "type": "datadog", "url": hook.url, "token": "k"})
    assert r.status_code == 403
    s = await create(client, tenant, type="datadog", url=hook.url, token="super-secret-key")
    sid = s["id"]
    for method, body in (("GET", None), ("PATCH", {"status": "paused"}), ("DELETE", None)):
        r = await client.request(method, f"{STREAMS}/{sid}", headers=other_tenant.headers,
                                 json=body)
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "audit_stream_not_found"
    r = await client.patch(f"{STREAMS}/{sid}", headers=tenant.headers,
                           json={"token": "rotated-key", "name": "renamed"})
    assert r.status_code == 200 and r.json()["name"] == "renamed"
    listed = await client.get(STREAMS, headers=tenant.headers)
    assert listed.json()["pagination"]["total"] == 1
    assert b"secret-key" not in listed.content and b"rotated-key" not in listed.content
    assert (await client.delete(f"{STREAMS}/{sid}", headers=tenant.headers)).status_code == 204
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        rows = await tx.fetch("SELECT action, metadata::text AS m FROM audit_events"
                              " WHERE resource_type = 'audit_stream' ORDER BY seq")
        stored = await tx.fetchval("SELECT count(*) FROM audit_streams")
    assert [r["action"] for r in rows] == ["audit_stream.create", "audit_stream.update",
                                           "audit_stream.delete"]
    assert not any("secret-key" in r["m"] or "rotated-key" in r["m"] for r in rows)
    assert stored == 0
