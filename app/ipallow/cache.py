"""Per-process cache of tenants' allowlists, invalidated by LISTEN/NOTIFY, never stale.

The database keeps one global change counter (`drift_private.ip_allowlist_seq`): every
statement that changes a tenant's entries bumps it inside the changing transaction and sends
`NOTIFY drift_ip_allowlist, '<tenant>:<seq>'`. The counter row stays locked until COMMIT, so the
counter order is the commit order and notifications arrive in counter order without gaps.

Each process (one `AllowlistCache` per database pool) holds
- `applied`: the highest counter value whose notification it has processed (contiguously),
- `entries`: tenant -> compiled list, each loaded together with the counter value it reflects,
- one listener connection (LISTEN drift_ip_allowlist), opened lazily or by the app lifespan.

The race a NOTIFY-only cache has: a change commits in process A, A answers its client, the
client's next request reaches process B before B has read the notification. To close it, every
check first passes a *freshness barrier*: the counter is read on the listener connection by a
query sent after the request arrived. If `applied >= counter`, every change committed before
the request arrived has been applied, so the cached list is current. If not (a notification is
still in flight), the tenant's entries are read from the database for this request. Requests
that arrive while a barrier query is in flight share the next one, so under load one round
trip on the listener connection serves many requests.

A load stores its result only if no notification newer than the load's counter value has been
seen for that tenant (or for everyone, after a reconnect or a gap), so an eviction that
overtakes a load cannot be lost. If the listener is down, nothing is trusted: each check reads
the database until the listener is back (and the cache has been flushed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from app.core.db import Database
from app.ipallow import repository
from app.ipallow.networks import Entry, TenantLists

log = logging.getLogger("drift.ipallow")

CHANNEL = "drift_ip_allowlist"
BARRIER_TIMEOUT = 2.0  # seconds; then the check reads the database and the listener reconnects
IDLE_PING = 15.0  # seconds without a barrier before the listener connection is probed
RECONNECT_DELAY = 1.0
MAX_TENANTS = 10_000

ConnGetter = Callable[[], Awaitable[asyncpg.Connection]]


class BarrierUnavailable(Exception):
    """The listener connection cannot answer right now."""


class _SharedLoadFailed(Exception):
    """The read another request started for the same tenant failed."""


class _Barrier:
    """Coalesced reads of the change counter on one connection: each waiter gets a value read
    by a query that was sent after it started waiting."""

    def __init__(self, fetch: Callable[[], Awaitable[int]]) -> None:
        self._fetch = fetch
        self._pending: list[asyncio.Future[int]] = []
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    async def wait(self) -> int:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append(fut)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return await fut

    async def _run(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                self.rounds += 1
                try:
                    async with asyncio.timeout(BARRIER_TIMEOUT):
                        value = await self._fetch()
                except asyncio.CancelledError:
                    for f in batch + self._pending:
                        if not f.done():
                            f.set_exception(BarrierUnavailable("cancelled"))
                    self._pending = []
                    raise
                except Exception as exc:
                    for f in batch:
                        if not f.done():
                            f.set_exception(BarrierUnavailable(repr(exc)))
                    continue
                for f in batch:
                    if not f.done():
                        f.set_result(value)
        finally:
            self._task = None


@dataclass
class Stats:
    barrier_checks: int = 0  # checks that passed the barrier with an up-to-date cache
    deferred: int = 0  # checks decided from the cache, proved by the request's statement
    hits: int = 0
    loads: int = 0
    lagging: int = 0  # barrier showed a change whose notification had not arrived yet
    untrusted: int = 0  # listener not ready: read the database
    notifications: int = 0
    flushes: int = 0


class AllowlistCache:
    """One per database pool (that is, per process in production)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.entries: OrderedDict[UUID, tuple[int, TenantLists]] = OrderedDict()
        self.applied = 0
        self.floor = 0  # loads reflecting a counter below this are never stored
        self.changed: dict[UUID, int] = {}  # tenant -> counter of its last notification
        self.ready = False
        self.stats = Stats()
        self._conn: asyncpg.Connection | None = None
        self._barrier = _Barrier(self._read_seq)
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._idle_since = 0.0
        self._connecting = False
        self._seen_while_connecting = 0
        self._ready_event: asyncio.Event | None = None
        self._failures = 0  # consecutive failed (re)connects, to keep the log quiet
        self._inflight: dict[UUID, asyncio.Future[tuple[int, TenantLists]]] = {}
        self.denials: dict[tuple[Any, ...], int] = {}  # (tenant, ip) -> minute (dedupe)
        # (tenant, credential type, ip, user) -> (minute last written, hits not yet written)
        self.would_deny: dict[tuple[Any, ...], tuple[int, int]] = {}

    # ---- lifecycle ----

    def start(self) -> None:
        """Start the listener task (idempotent). Until it is connected, checks read the DB."""
        if self._task is not None and not self._task.done():
            return
        if self.db.listen_url is None:  # behind a transaction pooler with no direct URL:
            return  # never trusted, every check reads the database (docs/scaling.md)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._ready_event = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._listen(),
                                                             name="ipallow-listener")

    async def wait_ready(self, within: float = 5.0) -> bool:
        """Start the listener and wait (bounded) until the cache can be trusted."""
        self.start()
        if self._ready_event is None:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready_event.wait(), within)
        return self.ready

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if self._stopping is not None:
            self._stopping.set()
        if self._wake is not None:
            self._wake.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    async def _read_seq(self) -> int:
        conn = self._conn
        if conn is None or conn.is_closed():
            raise BarrierUnavailable("listener not connected")
        self._idle_since = asyncio.get_running_loop().time()
        return await repository.current_seq(conn)

    async def _listen(self) -> None:
        if self._stopping is None:
            raise RuntimeError("expected self._stopping is not None")
        if self._wake is None:
            raise RuntimeError("expected self._wake is not None")
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set() and self.db._pool is not None:
            conn: asyncpg.Connection | None = None
            try:
                self._connecting, self._seen_while_connecting = True, 0
                conn = await self.db.connect_listener()
                await conn.add_listener(CHANNEL, self._on_notify)
                conn.add_termination_listener(self._on_terminate)
                # LISTEN is active: everything committed from now on is notified; everything
                # committed before is covered by dropping the whole cache. Notifications that
                # arrived meanwhile were all committed after LISTEN, so they are contiguous.
                seq = await repository.current_seq(conn)
                self._reset(max(seq, self._seen_while_connecting))
                self._connecting = False
                self._conn = conn
                self.ready = True
                if self._ready_event is None:
                    raise RuntimeError("expected self._ready_event is not None")
                self._ready_event.set()
                self._failures = 0
                self._idle_since = loop.time()
                log.debug("ipallow listener connected at seq %d", seq)
                while not self._stopping.is_set() and not conn.is_closed():
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                    if self.db._pool is None:  # the pool was closed: so is this process's use
                        return
                    if loop.time() - self._idle_since > IDLE_PING and not conn.is_closed():
                        await self._barrier.wait()  # probe; raises if the connection is dead
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failures += 1
                if self._failures == 1 or self._failures % 60 == 0:
                    log.warning("ipallow listener lost (%s, attempt %d); checks read the "
                                "database until it is back", type(exc).__name__, self._failures)
            finally:
                self.ready = False
                if self._ready_event is not None:
                    self._ready_event.clear()
                self._connecting = False
                self._conn = None
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            if not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=RECONNECT_DELAY)

    def _drop_connection(self) -> None:
        """The listener did not answer: stop trusting the cache and reconnect."""
        if self.ready:
            log.warning("ipallow listener did not answer; reconnecting (checks read the "
                        "database meanwhile)")
        self.ready = False
        if self._ready_event is not None:
            self._ready_event.clear()
        conn = self._conn
        if conn is not None and not conn.is_closed():
            conn.terminate()
        if self._wake is not None:
            self._wake.set()

    def _on_terminate(self, conn: object) -> None:
        if conn is not self._conn:  # an older connection, already replaced
            return
        self.ready = False
        if self._ready_event is not None:
            self._ready_event.clear()
        if self._wake is not None:
            self._wake.set()

    # ---- invalidation ----

    def _reset(self, seq: int) -> None:
        self.entries.clear()
        self.changed.clear()
        self.applied = seq
        self.floor = seq
        self.stats.flushes += 1

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.stats.notifications += 1
        tenant_text, _, seq_text = payload.rpartition(":")
        try:
            seq = int(seq_text)
            tenant: UUID | None = None if tenant_text == "*" else UUID(tenant_text)
        except ValueError:
            log.warning("unexpected ipallow notification %r: dropping the cache", payload)
            self._reset(self.applied)
            return
        if tenant is not None:
            self.entries.pop(tenant, None)
        if self._connecting:  # the flush that ends connecting covers it
            self._seen_while_connecting = max(self._seen_while_connecting, seq)
            return
        if seq <= self.applied:
            return  # committed before we (re)connected: already covered by the flush
        if tenant is None or seq != self.applied + 1:
            if tenant is not None:
                log.warning("ipallow notifications skipped from %d to %d: dropping the cache",
                            self.applied, seq)
            self._reset(seq)
            return
        self.applied = seq
        self.changed[tenant] = seq
        if len(self.changed) > 100_000:
            self._reset(seq)

    # ---- lookups ----

    def without_barrier(self, tenant_id: UUID) -> tuple[int, TenantLists] | None:
        """The tenant's cached lists and the counter value this process has applied, without
        waiting for the barrier: current unless a change committed that this process has not
        been notified of yet, which is for the caller to rule out (app.core.tx.Freshness: the
        request's first statement compares the counter). None when the cache is not trusted
        or the tenant is not cached."""
        if not self.ready or self._task is None or self._task.done():
            return None
        cached = self.entries.get(tenant_id)
        if cached is None:
            return None
        self.stats.deferred += 1
        self.entries.move_to_end(tenant_id)
        return self.applied, cached[1]

    async def get(self, tenant_id: UUID, conn: ConnGetter) -> TenantLists:
        """The tenant's current entries: from the cache when the barrier proves it current,
        else from the database."""
        if self._task is None or self._task.done():
            self.start()
        if self.ready:
            try:
                seq = await self._barrier.wait()
            except BarrierUnavailable:
                seq = None
                self._drop_connection()
            if seq is not None and self.applied >= seq:
                # Every change committed before this request arrived has been applied.
                self.stats.barrier_checks += 1
                cached = self.entries.get(tenant_id)
                if cached is not None:
                    self.stats.hits += 1
                    self.entries.move_to_end(tenant_id)
                    return cached[1]
                loaded_seq, compiled = await self._shared_load(tenant_id, conn)
                if self._current(tenant_id, loaded_seq):
                    return compiled
                return (await self._load(tenant_id, conn, store=True))[1]
            if seq is not None:
                # A change committed that this process has not heard of yet: read it now.
                self.stats.lagging += 1
                return (await self._load(tenant_id, conn, store=True))[1]
        self.stats.untrusted += 1
        return (await self._load(tenant_id, conn, store=False))[1]

    def _current(self, tenant_id: UUID, seq: int) -> bool:
        """A load that reflects counter `seq` includes every change to the tenant this process
        has been notified of (so, after the barrier, every change committed before now)."""
        return seq >= self.floor and seq >= self.changed.get(tenant_id, 0)

    async def _shared_load(self, tenant_id: UUID, conn: ConnGetter) -> tuple[int, TenantLists]:
        """One database read per tenant at a time; concurrent misses wait for it (the caller
        then checks `_current`, since the read may have started before its barrier)."""
        fut = self._inflight.get(tenant_id)
        if fut is not None:
            with contextlib.suppress(_SharedLoadFailed):
                return await asyncio.shield(fut)
            return await self._load(tenant_id, conn, store=True)  # its read failed: try ours
        fut = asyncio.get_running_loop().create_future()
        self._inflight[tenant_id] = fut
        try:
            result = await self._load(tenant_id, conn, store=True)
        except BaseException as exc:
            fut.set_exception(_SharedLoadFailed(repr(exc)))
            fut.exception()  # mark retrieved: waiters that want it get it, nobody else must
            raise
        else:
            fut.set_result(result)
            return result
        finally:
            if self._inflight.get(tenant_id) is fut:
                del self._inflight[tenant_id]

    async def _load(self, tenant_id: UUID, conn: ConnGetter, *, store: bool
                    ) -> tuple[int, TenantLists]:
        self.stats.loads += 1
        seq, rows = await repository.load_entries(await conn(), tenant_id)
        compiled = TenantLists(Entry(r["id"], r["cidr"], r["expires_at"], r["scope"], r["mode"])
                               for r in rows)
        if store and self.ready and self._current(tenant_id, seq):
            self.entries[tenant_id] = (seq, compiled)
            self.entries.move_to_end(tenant_id)
            while len(self.entries) > MAX_TENANTS:
                self.entries.popitem(last=False)
        return seq, compiled


_caches: weakref.WeakKeyDictionary[Database, AllowlistCache] = weakref.WeakKeyDictionary()


def cache_for(db: Database) -> AllowlistCache:
    cache = _caches.get(db)
    if cache is None:
        cache = _caches[db] = AllowlistCache(db)
    return cache
