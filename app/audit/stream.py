"""GET /api/v1/audit/stream: Server-Sent Events of the tenant's audit events as they commit.

- One LISTEN connection per process (AuditHub), opened while anyone is subscribed. The chain
  trigger NOTIFYs `drift_audit` with "<tenant id> <seq>" for every event; NOTIFY is delivered
  only when the inserting transaction commits. The hub wakes that tenant's subscribers only.
- A woken subscriber reads the new rows itself, in a short transaction of its own on a pooled
  connection, entered with its credential (drift_api.enter_*): RLS confines the read to the
  caller's tenant, and a revoked key, deactivated user or changed role ends the stream at the
  next read. No connection is held between reads, and nothing polls.
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
from collections.abc import AsyncIterator
from uuid import UUID

import asyncpg

from app.audit import repository
from app.audit.filters import AuditFilters, encode_position
from app.audit.streaming import ManagedStream
from app.auth.dependencies import CREDENTIAL_SQLSTATE, enter_script
from app.auth.principal import Principal
from app.core.context import RequestContext
from app.core.db import Tx, connect
from app.core.errors import ServiceUnavailable
from app.core.responses import dumps
from app.core.runtime import Runtime

log = logging.getLogger("drift.audit.stream")

CHANNEL = "drift_audit"
READ_BATCH = 500
HEARTBEAT_SECONDS = 15.0
# Streams end after this long (clients reconnect with Last-Event-ID and lose nothing), so a
# server shutting down or a credential that changed is never held open indefinitely.
MAX_STREAM_SECONDS = 900.0
KEEPALIVE_SECONDS = 10.0


class Subscriber:
    __slots__ = ("tenant_id", "wake")

    def __init__(self, tenant_id: UUID) -> None:
        self.tenant_id = tenant_id
        self.wake = asyncio.Event()


class _Listener:
    """One LISTEN connection and the task that keeps it alive."""

    def __init__(self, hub: AuditHub) -> None:
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._run(hub), name="audit-stream-listener")

    async def _run(self, hub: AuditHub) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await connect(hub.url, connect_timeout=hub.connect_timeout)
                await conn.add_listener(CHANNEL, hub.on_notify)
                self.ready.set()
                hub.wake_all()  # catch up on anything that committed while (re)connecting
                while not conn.is_closed():
                    await asyncio.sleep(KEEPALIVE_SECONDS)
                    await conn.execute("SELECT 1")  # notice a dead connection
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
    """Fans one process-wide LISTEN out to the SSE subscribers of each tenant."""

    def __init__(self, url: str, connect_timeout: float) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self._subs: dict[str, set[Subscriber]] = {}
        self._listener: _Listener | None = None

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subs.values())

    @property
    def listening(self) -> bool:
        return self._listener is not None and self._listener.ready.is_set()

    async def subscribe(self, tenant_id: UUID) -> Subscriber:
        """Register, and return once LISTEN is active (so the caller's first read is covered)."""
        sub = Subscriber(tenant_id)
        self._subs.setdefault(str(tenant_id), set()).add(sub)
        if self._listener is None or self._listener.task.done():
            self._listener = _Listener(self)
        try:
            await asyncio.wait_for(self._listener.ready.wait(), timeout=self.connect_timeout + 5)
        except TimeoutError:
            self.unsubscribe(sub)
            raise ServiceUnavailable("The live audit stream is unavailable right now; retry "
                                     "shortly.", code="stream_unavailable",
                                     headers={"Retry-After": "5"}) from None
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        key = str(sub.tenant_id)
        subs = self._subs.get(key)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[key]
        if not self._subs and self._listener is not None:
            self._listener.task.cancel()
            self._listener = None

    def on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        tenant, _, _seq = payload.partition(" ")
        for sub in self._subs.get(tenant, ()):
            sub.wake.set()

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
        self.wake_all()


def hub_for(rt: Runtime) -> AuditHub:
    hub = rt.extras.get("audit_hub")
    if hub is None:
        hub = AuditHub(rt.db.url, rt.settings.db_connect_timeout)
        rt.extras["audit_hub"] = hub
    assert isinstance(hub, AuditHub)
    return hub


async def close_hub(rt: Runtime) -> None:
    hub = rt.extras.pop("audit_hub", None)
    if isinstance(hub, AuditHub):
        await hub.close()


async def _read_new(rt: Runtime, principal: Principal, f: AuditFilters, after_seq: int
                    ) -> tuple[int, list[asyncpg.Record]]:
    """The newest committed position and the matching events after `after_seq` up to it, in a
    transaction that re-verifies the caller's credential (DR401 if it no longer stands)."""
    async with rt.db.pool.acquire() as conn:
        await conn.execute(enter_script(principal))
        tx = Tx(conn, principal.tenant_id, RequestContext(actor=principal.actor), principal)
        got = await repository.read_page(tx, f, limit=READ_BATCH, desc=False,
                                         after_seq=after_seq)
        await conn.execute("COMMIT")
    return got.head, got.rows


def _event(row: asyncpg.Record) -> bytes:
    return (b"id: " + encode_position(int(row["seq"]), "asc").encode()
            + b"\nevent: audit\ndata: " + bytes(row["j"]) + b"\n\n")


def _error(code: str, detail: str) -> bytes:
    return b"event: error\ndata: " + dumps({"code": code, "detail": detail}) + b"\n\n"


async def _events(rt: Runtime, sub: Subscriber, principal: Principal, f: AuditFilters,
                  start_seq: int) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MAX_STREAM_SECONDS
    pos = announced = start_seq
    yield b"retry: 3000\n: drift audit stream\n\n"
    while True:
        sub.wake.clear()  # before reading: a notification during the read means read again
        while True:
            try:
                head, rows = await _read_new(rt, principal, f, pos)
            except asyncpg.PostgresError as exc:
                if getattr(exc, "sqlstate", None) != CREDENTIAL_SQLSTATE:
                    raise
                reason = str(getattr(exc, "message", "") or exc)
                yield _error(f"credential_{reason}", "The credential this stream was opened "
                             "with is no longer valid for it; reconnect with a valid one.")
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


async def open_stream(rt: Runtime, principal: Principal, f: AuditFilters, *, start_seq: int
                      ) -> ManagedStream:
    hub = hub_for(rt)
    sub = await hub.subscribe(principal.tenant_id)

    async def cleanup() -> None:
        hub.unsubscribe(sub)

    return ManagedStream(_events(rt, sub, principal, f, start_seq), cleanup=cleanup,
                         media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
