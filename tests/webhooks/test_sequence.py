"""Per-endpoint sequence numbers: every delivery carries `webhook-sequence` (1, 2, 3, ... per
endpoint, gap-free, unchanged across retries), and GET /api/v1/webhooks/{id}/events?after_seq=
lets a receiver that noticed a gap fetch exactly what it missed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
from standardwebhooks import Webhook

from app.core import clock
from app.core.events import build_data
from app.core.migrate import run_migrations
from app.core.outbox import emit
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.tenants.service import create_tenant
from tests.conftest import DbInfo, Tenant, runtime_with, scratch_database
from tests.webhooks.conftest import Hook, Received, Receiver, Reply
from tests.webhooks.helpers import deliver, deliveries, emit_events, register, validate_event

ALERTS = ["webhook.endpoint.disabled", "webhook.delivery.exhausted",
          "webhook.endpoint.recovered"]


def seq_of(r: Received) -> int:
    return int(r.headers["webhook-sequence"])


async def events_page(client: httpx.AsyncClient, t: Tenant, endpoint_id: str,
                      **params: Any) -> dict[str, Any]:
    r = await client.get(f"/api/v1/webhooks/{endpoint_id}/events", headers=t.headers,
                         params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


class GapAwareReceiver:
    """What a receiver does with the header: remember the highest sequence number processed,
    and on a jump (or when asked) fetch what it missed from the events API."""

    def __init__(self, client: httpx.AsyncClient, t: Tenant, endpoint_id: str) -> None:
        self.client, self.t, self.endpoint_id = client, t, endpoint_id
        self.processed: dict[int, dict[str, Any]] = {}

    def take(self, hook: Hook) -> None:
        """Process what the hook answered 2xx to."""
        for n, req in enumerate(hook.requests):
            if 200 <= hook.reply_for(n).status < 300:
                self.processed[seq_of(req)] = req.json()

    def missing(self) -> list[int]:
        top = max(self.processed, default=0)
        return [s for s in range(1, top + 1) if s not in self.processed]

    async def backfill(self, limit: int = 1) -> list[dict[str, Any]]:
        """Page from the first hole on, `limit` at a time, until the end."""
        fetched: list[dict[str, Any]] = []
        after = min(self.missing()) - 1
        while True:
            page = await events_page(self.client, self.t, self.endpoint_id,
                                     after_seq=after, limit=limit)
            for item in page["data"]:
                fetched.append(item)
                self.processed.setdefault(item["seq"], item["payload"])
            if not page["pagination"]["has_more"]:
                return fetched
            after = int(page["pagination"]["cursor"])


async def test_deliveries_carry_consecutive_sequence_numbers_that_verify(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook()
    ep = await register(client, tenant, hook.url, ["project.created", "sync.failed"])
    for name in ("One", "Two"):
        r = await client.post("/api/v1/projects", headers=tenant.headers, json={"name": name})
        assert r.status_code == 201
    batch = await emit_events(tenant, 3)  # one statement: numbered in the order given
    await deliver(runtime, tenant)
    got = await hook.wait_for(5)
    by_seq = {seq_of(r): r for r in got}
    assert sorted(by_seq) == [1, 2, 3, 4, 5]
    assert [by_seq[s].json()["data"]["name"] for s in (1, 2)] == ["One", "Two"]
    assert [by_seq[s].headers["webhook-id"] for s in (3, 4, 5)] == [str(i) for i in batch]
    for req in got:  # the header is outside the signed content: verification still passes
        payload = Webhook(ep["secret"]).verify(req.body, req.headers)
        assert payload["id"] == req.headers["webhook-id"]
    # the log shows it too, and the events API returns the same bodies in order
    rows = await deliveries(tenant)
    assert sorted(r["seq"] for r in rows) == [1, 2, 3, 4, 5]
    page = await events_page(client, tenant, ep["id"])
    assert [e["seq"] for e in page["data"]] == [1, 2, 3, 4, 5]
    assert page["pagination"] == {"cursor": None, "has_more": False, "total": 5}
    for item in page["data"]:
        assert item["payload"] == by_seq[item["seq"]].json()
        assert item["event_id"] == by_seq[item["seq"]].headers["webhook-id"]
        assert item["type"] == item["payload"]["type"] and item["status"] == "delivered"
        validate_event(item["payload"])
    log = (await client.get(f"/api/v1/webhooks/{ep['id']}/deliveries",
                            headers=tenant.headers)).json()
    assert sorted(d["seq"] for d in log["data"]) == [1, 2, 3, 4, 5]


async def test_two_endpoints_count_independently(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    both, only_sync = receiver.hook(), receiver.hook()
    a = await register(client, tenant, both.url, ["project.created", "sync.failed"])
    b = await register(client, tenant, only_sync.url, ["sync.failed"])
    r = await client.post("/api/v1/projects", headers=tenant.headers, json={"name": "P"})
    assert r.status_code == 201
    await emit_events(tenant, 2)
    await deliver(runtime, tenant)
    assert sorted(seq_of(x) for x in await both.wait_for(3)) == [1, 2, 3]
    assert sorted(seq_of(x) for x in await only_sync.wait_for(2)) == [1, 2]
    # the same event has a different number at each endpoint
    a_seq = {x.headers["webhook-id"]: seq_of(x) for x in both.requests}
    b_seq = {x.headers["webhook-id"]: seq_of(x) for x in only_sync.requests}
    assert {a_seq[i] for i in b_seq} == {2, 3} and set(b_seq.values()) == {1, 2}
    assert [e["seq"] for e in (await events_page(client, tenant, b["id"]))["data"]] == [1, 2]
    assert (await events_page(client, tenant, a["id"]))["pagination"]["total"] == 3


async def test_sequence_number_is_the_same_on_every_retry(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook(Reply(503), Reply(500), Reply(200))
    ep = await register(client, tenant, hook.url, ["sync.failed"], retry_policy="fast")
    rt = runtime_with(runtime, webhook_retry_schedule=[1.0, 1.0])
    clock.freeze()
    await emit_events(tenant, 1)
    for _ in range(3):
        await deliver(rt, tenant)
        clock.advance(timedelta(seconds=1))
    got = await hook.wait_for(3)
    assert [r.headers["x-drift-attempt"] for r in got] == ["1", "2", "3"]
    assert [seq_of(r) for r in got] == [1, 1, 1]
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert all(Webhook(ep["secret"]).verify(r.body, r.headers) for r in got)


async def test_receiver_detects_a_dead_lettered_gap_and_backfills_it(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    # event 1 is taken, event 2 is refused until it is dead-lettered, event 3 is taken
    hook = receiver.hook(Reply(200), Reply(500), Reply(500), Reply(200))
    ep = await register(client, tenant, hook.url, ["sync.failed"], retry_policy="fast")
    rt = runtime_with(runtime, webhook_retry_schedule=[1.0])
    clock.freeze()
    ids = []
    for _ in range(3):
        ids += await emit_events(tenant, 1)
        await deliver(rt, tenant)
        clock.advance(timedelta(seconds=1))
        await deliver(rt, tenant)
    await hook.wait_for(4)
    (failed,) = await deliveries(tenant, "status = 'failed'")
    assert failed["event_id"] == ids[1] and failed["seq"] == 2

    me = GapAwareReceiver(client, tenant, ep["id"])
    me.take(hook)
    assert me.missing() == [2]  # 3 arrived after 1: the receiver knows what it lacks
    fetched = await me.backfill(limit=1)
    assert [(e["seq"], e["status"]) for e in fetched] == [(2, "failed"), (3, "delivered")]
    # what it fetched is the very event (the body that was sent and refused)
    assert fetched[0]["payload"] == hook.requests[1].json()
    assert fetched[0]["event_id"] == str(ids[1])
    assert me.missing() == [] and sorted(me.processed) == [1, 2, 3]
    assert [me.processed[s]["id"] for s in (1, 2, 3)] == [str(i) for i in ids]


async def test_disabled_endpoint_backfills_what_failed_and_alerts_are_numbered_too(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    failing = receiver.hook(Reply(400))
    watcher = receiver.hook()
    bad = await register(client, tenant, failing.url, ["sync.failed"])
    good = await register(client, tenant, watcher.url, ["sync.failed", *ALERTS])
    rt = runtime_with(runtime, webhook_disable_after_failures=2)
    await emit_events(tenant, 3)
    await deliver(rt, tenant)
    await deliver(rt, tenant)
    # the watcher got the three events, then the disable alert as number 4
    got = await watcher.wait_for(4)
    assert sorted(seq_of(r) for r in got) == [1, 2, 3, 4]
    alert = next(r for r in got if r.json()["type"] == "webhook.endpoint.disabled")
    assert seq_of(alert) == 4 and alert.json()["data"]["endpoint_id"] == bad["id"]
    page = await events_page(client, tenant, good["id"], after_seq=3)
    assert [(e["seq"], e["type"]) for e in page["data"]] == [(4, "webhook.endpoint.disabled")]
    # the disabled endpoint's receiver processed nothing; its whole stream is there to fetch
    listed = (await events_page(client, tenant, bad["id"]))["data"]
    assert [(e["seq"], e["status"]) for e in listed] == [(1, "failed"), (2, "failed"),
                                                         (3, "failed")]
    assert {e["payload"]["id"] for e in listed} == {r.json()["id"] for r in got
                                                    if r.json()["type"] == "sync.failed"}
    # re-enabled: new events go on from 4
    r = await client.patch(f"/api/v1/webhooks/{bad['id']}", headers=tenant.headers,
                           json={"active": True})
    assert r.status_code == 200
    failing.script[:] = [Reply(200)]
    await emit_events(tenant, 1)
    await deliver(rt, tenant)
    after = [seq_of(x) for x in failing.requests if x.json()["type"] == "sync.failed"]
    assert max(after) == 4


async def test_concurrent_emitters_leave_no_gap_and_no_duplicate(
        client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver
) -> None:
    """Transactions emitting several events each, to overlapping endpoints, in opposite
    orders, all at once: every endpoint still counts 1..n exactly once (and none deadlocks)."""
    a = await register(client, tenant, receiver.hook().url, ["sync.failed", "project.created"])
    b = await register(client, tenant, receiver.hook().url, ["project.created"])
    c = await register(client, tenant, receiver.hook().url, ["sync.failed"])

    def sync_failed(i: int) -> dict[str, Any]:
        return build_data("sync.failed", project_id=uuid.uuid4(), error=f"e{i}",
                          retry_count=0)

    def created(i: int) -> dict[str, Any]:
        return build_data("project.created", project_id=uuid.uuid4(), name=f"p{i}",
                          slug=f"p{i}")

    async def one(i: int) -> None:
        async with own_tx(tenant.rt.db, tenant.id) as tx:
            first, second = ((("sync.failed", sync_failed), ("project.created", created))
                             if i % 2 else
                             (("project.created", created), ("sync.failed", sync_failed)))
            await emit(tx, first[0], first[1](i))
            await emit(tx, second[0], second[1](i))

    await asyncio.gather(*(one(i) for i in range(24)))
    counts = {a["id"]: 48, b["id"]: 24, c["id"]: 24}
    for endpoint_id, n in counts.items():
        rows = await tenant.sql("SELECT seq FROM webhook_deliveries WHERE endpoint_id = $1"
                                " ORDER BY seq", uuid.UUID(endpoint_id))
        assert [r["seq"] for r in rows] == list(range(1, n + 1))
        (last,) = await tenant.sql("SELECT last_seq FROM webhook_endpoint_sequences"
                                   " WHERE endpoint_id = $1", uuid.UUID(endpoint_id))
        assert last["last_seq"] == n
    # within one transaction, its events are numbered in the order they were emitted
    rows = await tenant.sql(
        "SELECT d.seq, ev.type, ev.data->>'error' AS e, ev.data->>'name' AS p"
        " FROM webhook_deliveries d JOIN outbox_events ev ON ev.id = d.event_id"
        " WHERE d.endpoint_id = $1 ORDER BY d.seq", uuid.UUID(a["id"]))
    for x, y in zip(rows[::2], rows[1::2], strict=True):
        i = int((x["e"] or x["p"])[1:])
        assert int((y["e"] or y["p"])[1:]) == i and y["seq"] == x["seq"] + 1
        assert x["type"] == ("sync.failed" if i % 2 else "project.created")


async def test_test_pings_are_outside_the_stream(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook()
    ep = await register(client, tenant, hook.url, ["sync.failed"])
    r = await client.post(f"/api/v1/webhooks/{ep['id']}/test", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["delivery"]["seq"] is None
    await emit_events(tenant, 1)
    await deliver(runtime, tenant)
    ping, event = await hook.wait_for(2)
    assert "webhook-sequence" not in ping.headers and seq_of(event) == 1
    page = await events_page(client, tenant, ep["id"])
    assert [e["type"] for e in page["data"]] == ["sync.failed"]


async def test_events_api_refusals(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, receiver: Receiver
) -> None:
    ep = await register(client, tenant, receiver.hook().url, ["sync.failed"])
    url = f"/api/v1/webhooks/{ep['id']}/events"
    # another tenant's endpoint: 404, as if it did not exist
    r = await client.get(url, headers=other_tenant.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = await client.get(f"/api/v1/webhooks/{uuid.uuid4()}/events", headers=tenant.headers)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    for bad in ("-1", "abc", "1.5", str(2**63)):
        r = await client.get(url, headers=tenant.headers, params={"after_seq": bad})
        assert r.status_code == 422, bad
        assert r.json()["code"] == "validation_error"
        assert "after_seq" in r.text
    r = await client.get(url, headers=tenant.headers, params={"limit": 0})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    member = await tenant.add_user("member")
    r = await client.get(url, headers=member.headers)
    assert r.status_code == 403 and r.json()["code"] == "insufficient_role"
    # past the end: an empty page, not an error
    page = await events_page(client, tenant, ep["id"], after_seq=10)
    assert page == {"data": [], "pagination": {"cursor": None, "has_more": False, "total": 0}}
    # nobody can set or override the header
    r = await client.patch(f"/api/v1/webhooks/{ep['id']}", headers=tenant.headers,
                           json={"headers": {"Webhook-Sequence": "1"}})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


async def test_migration_numbers_existing_deliveries_and_counts_on(test_db: DbInfo) -> None:
    """0014_webhook_sequence on a database that already has deliveries: each endpoint's are
    numbered by (created_at, id), test pings stay unnumbered, and the next event takes the next
    number."""
    async with scratch_database(test_db, "0013_scim_attributes") as (owner_url, db):
        t = await create_tenant(db, name="Seq", slug="seq", owner_email="o@seq.example")
        tid = uuid.UUID(t["tenant_id"])
        now = clock.now()
        async with own_tx(db, tid) as tx:
            ep = await tx.fetchval(
                "INSERT INTO webhook_endpoints (tenant_id, url, events)"
                " VALUES ($1, 'https://example.com/h', '{sync.failed}') RETURNING id", tid)
            made = []
            for i, type_ in enumerate(["sync.failed", "ping", "sync.failed",
                                       "sync.failed"]):
                ev = uuid.uuid4()
                at = now - timedelta(minutes=10 - i)
                await tx.execute(
                    "INSERT INTO outbox_events (tenant_id, id, type, created_at, data)"
                    " VALUES ($1, $2, $3, $4, '{}')", tid, ev, type_, at)
                await tx.execute(
                    "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id,"
                    " event_type, status, created_at, updated_at)"
                    " VALUES ($1, $2, $3, $4, 'delivered', $5, $5)", tid, ep, ev, type_, at)
                made.append(ev)
        await asyncio.to_thread(run_migrations, owner_url, test_db.app_role)
        async with own_tx(db, tid) as tx:
            await emit(tx, "sync.failed", build_data(
                "sync.failed", project_id=uuid.uuid4(), error="after", retry_count=0))
        async with own_tx(db, tid) as tx:
            rows = await tx.fetch("SELECT event_id, seq FROM webhook_deliveries"
                                  " ORDER BY created_at")
            last = await tx.fetchval("SELECT last_seq FROM webhook_endpoint_sequences"
                                     " WHERE endpoint_id = $1", ep)
        assert [r["seq"] for r in rows] == [1, None, 2, 3, 4]
        assert [r["event_id"] for r in rows[:4]] == made
        assert last == 4
