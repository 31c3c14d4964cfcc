"""The per-process cache: changes are enforced by every process on its very next request, even
when a NOTIFY has not arrived yet or the listener is down."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx

from app.core.db import connect
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.ipallow import repository
from app.ipallow.cache import CHANNEL, AllowlistCache, cache_for
from tests.conftest import DbInfo, LiveServer, Tenant, assert_problem
from tests.ipallow.conftest import PREFIX, ClientFactory, Process, add_entry

ME = "/api/v1/me"


async def test_a_change_in_one_process_is_enforced_by_another_on_the_next_request(
        client_from: ClientFactory, second_process: Process, tenant: Tenant) -> None:
    a = client_from("10.0.0.1")
    async with second_process.client("10.0.0.1") as b:
        # both processes have cached the tenant's (empty) list
        assert (await a.get(ME, headers=tenant.headers)).status_code == 200
        assert (await b.get(ME, headers=tenant.headers)).status_code == 200
        assert tenant.id in second_process.cache.entries
        for _ in range(5):
            created = await client_from("192.168.1.1").post(
                PREFIX, headers=tenant.headers, json={"cidr": "192.168.0.0/16"})
            assert created.status_code == 201
            r = await b.get(ME, headers=tenant.headers)  # the very next request, elsewhere
            assert r.status_code == 403 and r.json()["code"] == "ip_not_allowed"
            # and back: removed in process B, process A lets 10.0.0.1 in again at once
            removed = await second_process.client("192.168.1.1").delete(
                f"{PREFIX}/{created.json()['id']}", headers=tenant.headers)
            assert removed.status_code == 204
            assert (await a.get(ME, headers=tenant.headers)).status_code == 200
            assert (await b.get(ME, headers=tenant.headers)).status_code == 200


async def test_a_late_notification_is_never_served_stale(
        client_from: ClientFactory, second_process: Process, tenant: Tenant) -> None:
    """Process B stops receiving notifications (as if every NOTIFY were delayed): the barrier
    sees that the counter moved past what B has applied and reads the database instead."""
    async with second_process.client("10.0.0.1") as b:
        assert (await b.get(ME, headers=tenant.headers)).status_code == 200
        cache = second_process.cache
        assert cache.ready and cache._conn is not None
        await cache._conn.remove_listener(CHANNEL, cache._on_notify)  # deaf from now on
        lagging = cache.stats.lagging
        await add_entry(tenant, "192.168.0.0/16")
        r = await b.get(ME, headers=tenant.headers)
        assert r.status_code == 403 and r.json()["code"] == "ip_not_allowed"
        assert cache.stats.lagging > lagging
        async with second_process.client("192.168.7.7") as inside:
            assert (await inside.get(ME, headers=tenant.headers)).status_code == 200


async def test_with_the_listener_down_every_check_reads_the_database(
        client_from: ClientFactory, second_process: Process, tenant: Tenant) -> None:
    async with second_process.client("10.0.0.1") as b:
        assert (await b.get(ME, headers=tenant.headers)).status_code == 200
        cache = second_process.cache
        assert cache._conn is not None
        cache._conn.terminate()
        for _ in range(20):
            if not cache.ready:
                break
            await asyncio.sleep(0)
        assert not cache.ready
        untrusted = cache.stats.untrusted
        await add_entry(tenant, "192.168.0.0/16")
        assert_problem(await b.get(ME, headers=tenant.headers), 403, "ip_not_allowed")
        assert cache.stats.untrusted > untrusted
        for _ in range(100):  # the listener reconnects on its own (and flushes the cache)
            if cache.ready:
                break
            await asyncio.sleep(0.05)
        assert cache.ready
        assert_problem(await b.get(ME, headers=tenant.headers), 403, "ip_not_allowed")
        async with second_process.client("192.168.7.7") as inside:
            assert (await inside.get(ME, headers=tenant.headers)).status_code == 200


async def test_a_live_server_enforces_changes_made_elsewhere(
        live_server: LiveServer, client_from: ClientFactory, tenant: Tenant) -> None:
    """The real app under uvicorn (its own runtime, its listener started by the lifespan)."""
    async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as live:
        assert (await live.get(ME, headers=tenant.headers)).status_code == 200
        await add_entry(tenant, "10.0.0.0/8")
        r = await live.get(ME, headers=tenant.headers)  # from 127.0.0.1
        assert r.status_code == 403 and r.json()["ip"] == "127.0.0.1"
        created = await client_from("10.0.0.1").post(PREFIX, headers=tenant.headers,
                                                     json={"cidr": "127.0.0.1"})
        assert created.status_code == 201
        assert (await live.get(ME, headers=tenant.headers)).status_code == 200


async def test_cached_checks_leave_their_proof_to_the_request_statement(
        second_process: Process, tenant: Tenant) -> None:
    """A request that enters through its own statement waits for no counter read: the check
    decides from the cache and the statement proves the cache current."""
    await add_entry(tenant, "10.0.0.0/8")
    async with second_process.client("10.0.0.1") as b:
        assert (await b.get(ME, headers=tenant.headers)).status_code == 200
        cache = second_process.cache
        rounds, loads, deferred = cache._barrier.rounds, cache.stats.loads, cache.stats.deferred
        results = await asyncio.gather(*(b.get(ME, headers=tenant.headers) for _ in range(40)))
        assert all(r.status_code == 200 for r in results)
        assert cache.stats.loads == loads  # all decided from the cache...
        assert cache.stats.deferred == deferred + 40
        assert cache._barrier.rounds == rounds  # ...without reading the counter


async def test_checks_without_a_statement_to_prove_them_share_barrier_rounds(
        second_process: Process, tenant: Tenant) -> None:
    await add_entry(tenant, "10.0.0.0/8")
    cache = second_process.cache
    assert await cache.wait_ready()

    async def conn() -> asyncpg.Connection:
        raise AssertionError("the lists are cached: no database read")

    async with second_process.rt.db.pool.acquire() as pooled:
        async def load() -> asyncpg.Connection:
            return pooled

        await cache.get(tenant.id, load)  # cached now
    rounds, hits = cache._barrier.rounds, cache.stats.hits
    await asyncio.gather(*(cache.get(tenant.id, conn) for _ in range(40)))
    assert cache.stats.hits == hits + 40
    assert 0 < cache._barrier.rounds - rounds < 40


async def test_a_write_with_a_stale_cache_is_refused_before_its_handler(
        client_from: ClientFactory, second_process: Process, tenant: Tenant) -> None:
    """Process B is deaf to notifications; a change elsewhere shuts its client out. B's
    cache still admits the client, so B's write tries to enter with the proof; the database
    refuses the proof, B checks again the slow way and refuses the request: nothing is
    written."""
    async with second_process.client("10.0.0.1") as b:
        assert (await b.get(ME, headers=tenant.headers)).status_code == 200
        cache = second_process.cache
        assert cache._conn is not None
        await cache._conn.remove_listener(CHANNEL, cache._on_notify)  # deaf from now on
        await add_entry(tenant, "192.168.0.0/16")
        r = await b.post("/api/v1/projects", headers=tenant.headers, json={"name": "stale"})
        assert_problem(r, 403, "ip_not_allowed")
        assert await tenant.sql("SELECT id FROM projects WHERE name = 'stale'") == []


async def test_each_statement_bumps_the_counter_once_and_notifies(test_db: DbInfo,
                                                                  tenant: Tenant) -> None:
    listener = await connect(test_db.app_url)
    got: list[str] = []
    try:
        await listener.add_listener(CHANNEL, lambda *a: got.append(a[3]))
        start = await repository.current_seq(listener)
        await tenant.sql("INSERT INTO ip_allowlist (tenant_id, cidr) SELECT $1, c::cidr"
                         " FROM unnest(ARRAY['10.0.0.0/8', '10.1.0.0/16', '::1']) c", tenant.id)
        await tenant.sql("UPDATE ip_allowlist SET description = 'x'")
        await tenant.sql("DELETE FROM ip_allowlist WHERE cidr <<= '10.0.0.0/8'")
        await tenant.sql("DELETE FROM ip_allowlist WHERE false")  # no rows: no change
        for _ in range(100):
            if len(got) >= 3:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        assert got == [f"{tenant.id}:{start + 1}", f"{tenant.id}:{start + 2}",
                       f"{tenant.id}:{start + 3}"]
        # a rolled-back change neither counts nor notifies
        async with own_tx(tenant.rt.db, tenant.id) as tx:
            await tx.execute("SAVEPOINT s")
            await tx.execute("INSERT INTO ip_allowlist (tenant_id, cidr) VALUES ($1, '1.2.3.4')",
                             tx.tenant_id)
            await tx.execute("ROLLBACK TO SAVEPOINT s")
        assert await repository.current_seq(listener) == start + 3
    finally:
        await listener.close()


async def test_the_runtime_role_cannot_touch_the_counter(test_db: DbInfo) -> None:
    conn = await connect(test_db.app_url)
    try:
        for sql in ("UPDATE drift_private.ip_allowlist_seq SET seq = 0",
                    "SELECT * FROM drift_private.ip_allowlist_seq"):
            try:
                await conn.execute(sql)
            except asyncpg.InsufficientPrivilegeError:
                continue
            raise AssertionError(f"{sql} was allowed")
        # the definer lookup reveals one tenant's networks, and only through the function
        assert await conn.fetch("SELECT * FROM ip_allowlist") == []
    finally:
        await conn.close()


class _FakeConn:
    def __init__(self, seq: int, rows: list[dict[str, Any]]) -> None:
        self.seq, self.rows = seq, rows

    async def fetch(self, _sql: str, *_args: Any) -> list[dict[str, Any]]:
        return [{"seq": self.seq, **r} for r in self.rows] or [
            {"seq": self.seq, "id": None, "cidr": None, "expires_at": None}]


async def test_an_eviction_that_overtakes_a_load_is_not_lost(runtime: Runtime) -> None:
    """Load reflects counter 10; the notification for change 11 of the same tenant is processed
    while the load is in flight: the stale result must not be stored."""
    cache = AllowlistCache(runtime.db)
    tenant = uuid.uuid4()
    cache.ready, cache.applied, cache.floor = True, 10, 10
    cache._on_notify(None, 0, CHANNEL, f"{tenant}:11")
    assert cache.applied == 11 and cache.changed[tenant] == 11

    async def stale() -> Any:
        return _FakeConn(10, [])

    await cache._load(tenant, stale, store=True)
    assert tenant not in cache.entries

    async def fresh() -> Any:
        return _FakeConn(11, [])

    await cache._load(tenant, fresh, store=True)
    assert tenant in cache.entries
    # a gap in the counter (a notification was missed) drops everything
    cache._on_notify(None, 0, CHANNEL, f"{uuid.uuid4()}:13")
    assert cache.entries == {} and cache.applied == 13 and cache.floor == 13
    # '*' (TRUNCATE, or anything unexpected) drops everything too
    await cache._load(tenant, lambda: _aw(_FakeConn(13, [])), store=True)
    assert tenant in cache.entries
    cache._on_notify(None, 0, CHANNEL, "*:14")
    assert cache.entries == {} and cache.applied == 14


async def _aw(value: Any) -> Any:
    return value


def test_cache_is_per_database_pool(runtime: Runtime) -> None:
    assert cache_for(runtime.db) is cache_for(runtime.db)


async def test_a_hung_listener_is_replaced_and_checks_stay_correct(
        second_process: Process, tenant: Tenant, monkeypatch: Any) -> None:
    """The counter read never answers (a half-dead connection): after the barrier timeout the
    check reads the database, and the listener is dropped and reconnected."""
    from app.ipallow import cache as cache_module

    cache = second_process.cache
    monkeypatch.setattr(cache_module, "BARRIER_TIMEOUT", 0.05)
    real_fetch = cache._barrier._fetch

    async def hang() -> int:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    cache._barrier._fetch = hang
    old_conn = cache._conn
    await add_entry(tenant, "10.0.0.0/8")
    untrusted = cache.stats.untrusted
    async with second_process.client("192.168.1.1") as outside, \
            second_process.client("10.0.0.1") as inside:
        assert_problem(await outside.get(ME, headers=tenant.headers), 403, "ip_not_allowed")
        assert cache.stats.untrusted > untrusted
        assert not cache.ready and old_conn is not None and old_conn.is_closed()
        cache._barrier._fetch = real_fetch
        assert await cache.wait_ready()
        assert cache._conn is not old_conn
        assert (await inside.get(ME, headers=tenant.headers)).status_code == 200
        assert_problem(await outside.get(ME, headers=tenant.headers), 403, "ip_not_allowed")
