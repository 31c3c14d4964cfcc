"""GET /api/v1/audit/stream: Server-Sent Events of the tenant's audit events as they commit.

- One LISTEN connection per process (AuditHub), opened while anyone is subscribed. The chain
  trigger NOTIFYs `drift_audit` with "<tenant id> <seq>" for every event of a tenant that some
  process has registered as streamed (a NOTIFY makes COMMIT take a database-wide lock, so
  writers of tenants nobody streams do not pay for it); NOTIFY is delivered only when the
  inserting transaction commits. The hub wakes that tenant's subscribers only.
- A woken subscriber reads the new rows itself, in a short transaction of its own on a pooled
  connection, entered with its credential (drift_api.enter_*): RLS confines the read to the
  caller's tenant, and a revoked key, deactivated user or changed role ends the stream at the
  next read. After each read the stream re-runs the request-time tenant checks
  (`Runtime.stream_rechecks`: the IP allowlist, for the client address the request came
  from); a refusal ends the stream with `event: error` (`ip_not_allowed`) instead of sending
  what was read. No connection is held between reads, and nothing polls (a heartbeat read
  every 15 s at the latest).
- No loss: the subscriber is registered and LISTEN is active before its first read, and every
  read covers "position > last sent, up to the newest committed position" (positions are
  commit-ordered). Notifications that race a read only cause one more (empty) read. After a
  lost listener connection every subscriber re-reads. Each SSE event's `id` is its cursor, so
  `Last-Event-ID` (sent automatically by EventSource on reconnect) resumes exactly after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg

from app.audit import repository
from app.audit.filters import AuditFilters, encode_position
from app.audit.long_reads import ManagedStream
from app.core.access import CREDENTIAL_SQLSTATE, enter_for
from app.core.audit_record import record
from app.core.context import RequestContext
from app.core.db import Database
from app.core.errors import DB_UNAVAILABLE, ProblemError, ServiceUnavailable
from app.core.metrics import AUDIT_STREAM_SUBSCRIBERS
from app.core.principal import Principal
from app.core.responses import dumps
from app.core.runtime import Runtime
from app.core.tx import Tx, own_tx

log = logging.getLogger("drift.audit.stream")

CHANNEL = "drift_audit"
READ_BATCH = 500
HEARTBEAT_SECONDS = 15.0
# Streams end after this long (clients reconnect with Last-Event-ID and lose nothing), so a
# server shutting down or a credential that changed is never held open indefinitely.
MAX_STREAM_SECONDS = 900.0
# This process's registration of a streamed tenant lasts LEASE_SECONDS and is renewed every
# RENEW_SECONDS (which also checks the LISTEN connection).
LEASE_SECONDS = 60
RENEW_SECONDS = 10.0


class Subscriber:
    __slots__ = ("closing", "tenant_id", "wake")

    def __init__(self, tenant_id: UUID) -> None:
        self.tenant_id = tenant_id
        self.wake = asyncio.Event()
        self.closing = False  # the server is shutting down: end with a final event


class _Listener:
    """One LISTEN connection, and the lease on this process's registrations."""

    def __init__(self, hub: AuditHub) -> None:
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._run(hub), name="audit-stream-listener")

    async def _run(self, hub: AuditHub) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            lost = asyncio.Event()
            try:
                conn = await hub.db.connect_listener()
                # A closed LISTEN connection (a database restart) is noticed at once, not at
                # the next renewal: until then `ready` would claim notifications that nobody
                # receives, and live events would wait for the renewal.
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, hub.on_notify)
                self.ready.set()
                await hub.renew(catch_up=True)  # anything missed while (re)connecting
                while not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), RENEW_SECONDS)
                    if conn.is_closed():
                        break
                    await conn.execute("SELECT 1")  # notice a dead connection
                    await hub.renew(catch_up=False)
                raise ConnectionError("the LISTEN connection was closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("audit stream listener lost (%s); reconnecting", type(exc).__name__)
                self.ready.clear()
                await asyncio.sleep(1.0)
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()


class AuditHub:
    """Fans one process-wide LISTEN out to the SSE subscribers of each tenant.

    The chain trigger NOTIFYs only for tenants registered in
    drift_private.audit_stream_listeners, so the hub registers each tenant it has subscribers
    for (a lease it renews) and, before a tenant's first subscriber reads, waits out the
    writers that may have checked the registry just before it (drift_api.audit_stream_barrier):
    from then on every new event of that tenant is notified."""

    def __init__(self, db: Database, connect_timeout: float) -> None:
        self.db = db
        self.connect_timeout = connect_timeout
        self.id = uuid.uuid4()
        self._subs: dict[str, set[Subscriber]] = {}
        self._registered: dict[str, asyncio.Task[None]] = {}
        self._listener: _Listener | None = None
        self._renewed_at = 0.0
        self._lock = asyncio.Lock()  # orders (un)registrations with each other
        self._background: set[asyncio.Task[None]] = set()
        self.draining = False

    @property
    def listening(self) -> bool:
        """The LISTEN connection is up (what /readyz-style checks and operators look at)."""
        return self._listener is not None and self._listener.ready.is_set()

    async def subscribe(self, tenant_id: UUID) -> Subscriber:
        """Register, and return once this tenant's events will be notified (so the caller's
        first read is covered)."""
        if self.draining:
            raise ServiceUnavailable("The server is shutting down; reconnect shortly.",
                                     code="server_shutting_down", headers={"Retry-After": "1"})
        if self.db.listen_url is None:  # behind a transaction pooler with no direct URL
            raise ServiceUnavailable(
                "The live audit stream needs a direct database connection for LISTEN, which a "
                "transaction pooler cannot carry: set DRIFT_DIRECT_DATABASE_URL. Query "
                "GET /api/v1/audit meanwhile.", code="direct_database_required")
        sub = Subscriber(tenant_id)
        key = str(tenant_id)
        self._subs.setdefault(key, set()).add(sub)
        AUDIT_STREAM_SUBSCRIBERS.inc()
        if self._listener is None or self._listener.task.done():
            self._listener = _Listener(self)
        try:
            async with asyncio.timeout(self.connect_timeout + 10):
                await self._listener.ready.wait()
                task = self._registered.get(key)
                if task is None or (task.done() and (task.cancelled()
                                                     or task.exception() is not None)):
                    task = asyncio.create_task(self._register(key))
                    self._registered[key] = task
                await asyncio.shield(task)
        except BaseException as exc:
            self.unsubscribe(sub)
            if isinstance(exc, Exception):
                log.warning("audit stream subscription failed: %r", exc)
                raise ServiceUnavailable("The live audit stream is unavailable right now; "
                                         "retry shortly.", code="stream_unavailable",
                                         headers={"Retry-After": "5"}) from None
            raise
        return sub

    async def _register(self, key: str) -> None:
        tenant = UUID(key)
        async with self._lock:
            await self.db.fetchval("SELECT drift_api.audit_stream_register($1, $2, $3)",
                                   self.id, [tenant], LEASE_SECONDS)
        await self.db.fetchval("SELECT drift_api.audit_stream_barrier($1)", tenant)

    async def renew(self, *, catch_up: bool) -> None:
        """Renew the lease on every tenant with subscribers. If it may have lapsed (first run,
        reconnect, a failed renewal), wait out in-flight writers and make every subscriber
        read again: notifications may have been skipped meanwhile."""
        tenants = [UUID(k) for k in self._subs]
        loop = asyncio.get_running_loop()
        lapsed = catch_up or loop.time() - self._renewed_at > LEASE_SECONDS - RENEW_SECONDS
        if tenants:
            async with self._lock:
                await self.db.fetchval("SELECT drift_api.audit_stream_register($1, $2, $3)",
                                       self.id, [UUID(k) for k in self._subs], LEASE_SECONDS)
            if lapsed:
                for tenant in tenants:
                    await self.db.fetchval("SELECT drift_api.audit_stream_barrier($1)", tenant)
        self._renewed_at = loop.time()
        if lapsed:
            self.wake_all()

    def unsubscribe(self, sub: Subscriber) -> None:
        key = str(sub.tenant_id)
        subs = self._subs.get(key)
        if subs is not None and sub in subs:
            subs.discard(sub)
            AUDIT_STREAM_SUBSCRIBERS.dec()
            if not subs:
                del self._subs[key]
                task = self._registered.pop(key, None)
                if task is not None:
                    task.cancel()
                self._spawn(self._unregister(sub.tenant_id))
        if not self._subs and self._listener is not None:
            self._listener.task.cancel()
            self._listener = None

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _unregister(self, tenant_id: UUID) -> None:
        try:
            async with self._lock:
                if str(tenant_id) in self._subs:  # someone subscribed again meanwhile
                    return
                await self.db.fetchval("SELECT drift_api.audit_stream_unregister($1, $2)",
                                       self.id, [tenant_id])
        except Exception:  # best effort: the lease runs out anyway
            log.debug("could not unregister audit stream of %s", tenant_id, exc_info=True)

    def on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        tenant, _, _seq = payload.partition(" ")
        for sub in self._subs.get(tenant, ()):
            sub.wake.set()

    def drain(self) -> None:
        """The server is shutting down: every stream ends with `event: error`
        (`server_shutting_down`) at its next turn, and no new one starts."""
        self.draining = True
        for subs in self._subs.values():
            for sub in subs:
                sub.closing = True
        self.wake_all()

    def wake_all(self) -> None:
        for subs in self._subs.values():
            for sub in subs:
                sub.wake.set()

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener.task
        tenants = [UUID(k) for k in self._subs]
        if tenants:
            with contextlib.suppress(Exception):
                await self.db.fetchval("SELECT drift_api.audit_stream_unregister($1, $2)",
                                       self.id, tenants)
        self.wake_all()


def hub_for(rt: Runtime) -> AuditHub:
    hub = rt.extras.get("audit_hub")
    if hub is None:
        hub = AuditHub(rt.db, rt.settings.db_connect_timeout)
        rt.extras["audit_hub"] = hub
    if not isinstance(hub, AuditHub):
        raise RuntimeError("expected isinstance(hub, AuditHub)")
    return hub


def drain_hub(rt: Runtime) -> None:
    hub = rt.extras.get("audit_hub")
    if isinstance(hub, AuditHub):
        hub.drain()


async def close_hub(rt: Runtime) -> None:
    hub = rt.extras.pop("audit_hub", None)
    if isinstance(hub, AuditHub):
        await hub.close()


async def _read_new(rt: Runtime, principal: Principal, ctx: RequestContext, f: AuditFilters,
                    after_seq: int) -> tuple[int, list[asyncpg.Record], ProblemError | None]:
    """The newest committed position and the matching events after `after_seq` up to it, in a
    transaction that re-verifies the caller's credential (DR401 if it no longer stands), and
    the refusal of a request-time check that no longer passes (then nothing may be sent).

    The checks run after the read: whatever change refuses the client and committed before
    events that the read saw is seen by the check, so no event committed after such a change
    is ever sent."""
    async with own_tx(rt.db, principal.tenant_id, RequestContext(actor=principal.actor),
                      enter=enter_for(principal)) as tx:
        tx.principal = principal
        got = await repository.read_page(tx, f, limit=READ_BATCH, desc=False,
                                         after_seq=after_seq)
    for recheck in rt.stream_rechecks:
        async with rt.db.pool.acquire() as conn:
            refusal = await recheck(rt, principal.tenant_id, ctx, conn)
        if refusal is not None:
            return got.head, [], refusal
    return got.head, got.rows, None


def _event(row: asyncpg.Record) -> bytes:
    return (b"id: " + encode_position(int(row["seq"]), "asc").encode()
            + b"\nevent: audit\ndata: " + bytes(row["j"]) + b"\n\n")


def _error(code: str, detail: str) -> bytes:
    return b"event: error\ndata: " + dumps({"code": code, "detail": detail}) + b"\n\n"


async def _events(rt: Runtime, sub: Subscriber, principal: Principal, ctx: RequestContext,
                  f: AuditFilters, start_seq: int) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MAX_STREAM_SECONDS
    pos = announced = start_seq
    yield b"retry: 3000\n: drift audit stream\n\n"
    while True:
        if sub.closing:
            yield _error("server_shutting_down", "The server is shutting down; reconnect "
                         "with Last-Event-ID to resume where this ended.")
            return
        sub.wake.clear()  # before reading: a notification during the read means read again
        while True:
            try:
                head, rows, refusal = await _read_new(rt, principal, ctx, f, pos)
            except DB_UNAVAILABLE as exc:
                # End the stream properly (the client reconnects after `retry` with its
                # Last-Event-ID and misses nothing) rather than break it mid-body.
                log.warning("audit stream ended: database unavailable (%s)",
                            type(exc).__name__)
                yield _error("database_unavailable", "The database is unavailable; "
                             "reconnect with Last-Event-ID to resume where this ended.")
                return
            except asyncpg.PostgresError as exc:
                if getattr(exc, "sqlstate", None) != CREDENTIAL_SQLSTATE:
                    raise
                reason = str(getattr(exc, "message", "") or exc)
                yield _error(f"credential_{reason}", "The credential this stream was opened "
                             "with is no longer valid for it; reconnect with a valid one.")
                return
            if refusal is not None:
                log.info("audit stream ended: %s", refusal.code)
                yield _error(refusal.code, refusal.detail)
                return
            out = [_event(r) for r in rows]
            full = len(rows) == READ_BATCH
            last_sent = int(rows[-1]["seq"]) if rows else announced
            pos = last_sent if full else max(head, pos)
            if rows:
                announced = last_sent
            if pos > announced:
                # filtered-out events: move the client's Last-Event-ID past them too
                out.append(b"id: " + encode_position(pos, "asc").encode() + b"\n\n")
                announced = pos
            if out:
                yield b"".join(out)
            if not full:
                break
        remaining = deadline - loop.time()
        if remaining <= 0:
            yield b": stream lifetime reached; reconnect with Last-Event-ID\n\n"
            return
        try:
            await asyncio.wait_for(sub.wake.wait(), timeout=min(HEARTBEAT_SECONDS, remaining))
        except TimeoutError:
            yield b": keepalive\n\n"


async def open_stream(rt: Runtime, tx: Tx, principal: Principal, f: AuditFilters, *,
                      start_seq: int | None, ticket_id: UUID | None = None) -> ManagedStream:
    """Subscribe, record `audit.stream` in the request transaction (it commits as the response
    starts) and return the streaming response. `start_seq` None: from the log's newest
    committed position (only events after this request).

    Subscribing comes first: it may wait for the tenant's in-flight writers (the barrier), and
    recording takes the tenant's chain lock until this request commits."""
    if start_seq is None:
        start_seq = await repository.last_seq(tx)
    hub = hub_for(rt)
    sub = await hub.subscribe(principal.tenant_id)
    try:
        await repository.asynchronous_commit(tx)
        meta: dict[str, Any] = {"filters": f.as_metadata(), "after_seq": start_seq}
        if ticket_id is not None:  # opened with a stream ticket (app/audit/tickets.py)
            meta["stream_ticket"] = str(ticket_id)
        await record(tx, "audit.stream", metadata=meta)
    except BaseException:
        hub.unsubscribe(sub)
        raise

    async def cleanup() -> None:
        hub.unsubscribe(sub)

    return ManagedStream(_events(rt, sub, principal, tx.ctx, f, start_seq), cleanup=cleanup,
                         media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
