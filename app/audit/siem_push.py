"""The audit-streams worker job: pushes each tenant's audit events to its SIEM destinations.

- which tenants: a definer function lists tenants with an active stream and whether one is
  due (events past its cursor, not leased, not backing off). Tenants with streams are
  registered for the audit NOTIFY (drift_api.audit_stream_register, the live stream's
  mechanism, app.audit.live), so a new event wakes the job at once; it also polls every
  second.
- claim: in the tenant's transaction, due streams are leased with FOR UPDATE SKIP LOCKED
  (`lease_id`, `locked_until`), so several workers never push the same stream at once.
- push: batches of up to BATCH events in `seq` order, read in a short transaction, sent
  outside any (app.audit.siem_formats over the webhooks' SSRF-guarded transport), and the
  cursor `delivered_through_seq` advances only after a 2xx, only for the lease that read the
  batch, from exactly where the batch started. A worker killed mid-push leaves the cursor
  where it was: the batch is sent again (at least once, in order, no gaps).
- failure: the error is kept (`last_error`), the stream backs off (BACKOFF) and the lease is
  released; nothing is skipped, however long the destination is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

import asyncpg

from app.audit import repository as audit_repository
from app.audit import siem_repository as repository
from app.audit.siem_formats import batch_request
from app.audit.siem_service import TOKEN_PURPOSE, stream_filters
from app.core import clock
from app.core.crypto import decrypt
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.webhooks.dispatcher import Sender
from app.webhooks.signing import secret_key

log = logging.getLogger("drift.audit.streams")

BATCH = 1000           # events per request (Datadog's intake takes at most 1,000 per array)
LEASE_SECONDS = 60.0   # a stream's lease; renewed by every successful batch
RUN_BUDGET = 5.0       # push one stream at most this long per claim, then let others go
MAX_CLAIM = 16         # streams claimed per tenant per run
CONCURRENCY = 32       # streams pushed at once per worker
BACKOFF: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # after 1, 2, ... failures
MAX_RETRY_AFTER = 300.0
REGISTER_EVERY = 10.0  # renew the NOTIFY registration this often (lease: 60 s)
STATE_KEY = "audit_streams"  # Runtime.extras


@dataclass
class _State:
    sender: Sender
    loop: asyncio.AbstractEventLoop
    listener_id: UUID
    registered_at: float = 0.0
    registered: frozenset[UUID] = frozenset()

    async def aclose(self) -> None:
        await self.sender.aclose()


def _state(rt: Runtime) -> _State:
    loop = asyncio.get_running_loop()
    state = rt.extras.get(STATE_KEY)
    if isinstance(state, _State) and state.loop is loop:
        return state
    state = _State(sender=Sender(rt.settings), loop=loop, listener_id=uuid.uuid4())
    rt.extras[STATE_KEY] = state
    return state


@lru_cache(maxsize=1024)
def _credential(app_secret: str, type_: str, encrypted: bytes) -> bytes:
    plain = decrypt(app_secret, TOKEN_PURPOSE, encrypted)
    return secret_key(plain.decode()) if type_ == "https_ndjson" else plain


def backoff(failures: int, retry_after: float | None) -> float:
    """Seconds before the next try after `failures` consecutive failures (>= 1)."""
    step = BACKOFF[min(failures, len(BACKOFF)) - 1]
    if retry_after is not None:
        step = max(step, min(retry_after, MAX_RETRY_AFTER))
    return step


async def _register(rt: Runtime, state: _State, tenants: list[UUID]) -> None:
    """Ask the audit trigger to NOTIFY for these tenants (drift_audit wakes this job)."""
    now = time.monotonic()
    wanted = frozenset(tenants)
    if wanted <= state.registered and now - state.registered_at < REGISTER_EVERY:
        return
    if tenants:
        await rt.db.fetchval("SELECT drift_api.audit_stream_register($1, $2, $3)",
                             state.listener_id, tenants, 60)
    state.registered, state.registered_at = wanted, now


async def run_once(rt: Runtime, *, tenants: Collection[UUID] | None = None) -> int:
    """Push every due stream (until caught up or RUN_BUDGET). Returns how many events were
    accepted. `tenants` limits the run to those (tests, tools)."""
    state = _state(rt)
    now = clock.now()
    found = await repository.tenants_with_streams(rt.db, now)
    if tenants is not None:
        found = [(t, due) for t, due in found if t in tenants]
    await _register(rt, state, [t for t, _ in found])
    lease_id = uuid.uuid4()
    claimed: list[tuple[UUID, asyncpg.Record]] = []
    for tenant_id, due in found:
        if not due:
            continue
        async with own_tx(rt.db, tenant_id) as tx:
            rows = await repository.claim_due(
                tx, now=now, lease_until=now + timedelta(seconds=LEASE_SECONDS),
                lease_id=lease_id, limit=MAX_CLAIM)
        claimed += [(tenant_id, r) for r in rows]
    if not claimed:
        return 0
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(tenant_id: UUID, row: asyncpg.Record) -> int:
        async with gate:
            return await _push(rt, state.sender, tenant_id, row, lease_id)

    return sum(await asyncio.gather(*(one(t, r) for t, r in claimed)))


async def _push(rt: Runtime, sender: Sender, tenant_id: UUID, row: asyncpg.Record,
                lease_id: UUID) -> int:
    stream_id: UUID = row["id"]
    options: dict[str, Any] = row["options"]
    cursor = int(row["delivered_through_seq"])
    f = stream_filters(row["filters"])
    credential = _credential(rt.secret_key, row["type"], bytes(row["token_encrypted"]))
    deadline = time.monotonic() + RUN_BUDGET
    pushed = 0
    failures = int(row["consecutive_failures"])
    holding = True
    try:
        while time.monotonic() < deadline:
            async with own_tx(rt.db, tenant_id) as tx:
                head, events = await audit_repository.read_for_push(
                    tx, f, after_seq=cursor, limit=BATCH)
            full = len(events) == BATCH
            to_seq = int(events[-1]["seq"]) if full else max(head, cursor)
            if events:
                headers, body = batch_request(row["type"], stream_id, events, options,
                                              credential)
                attempt = await sender.send(row["url"], headers, body)
                if not attempt.ok:
                    error = attempt.error or f"HTTP {attempt.status_code}: " \
                        f"{(attempt.response_body or '')[:200]}"
                    now = clock.now()
                    async with own_tx(rt.db, tenant_id) as tx:
                        failures += 1
                        await repository.fail(
                            tx, stream_id, lease_id, error=error[:500], now=now,
                            retry_at=now + timedelta(
                                seconds=backoff(failures, attempt.retry_after)))
                    holding = False
                    log.info("audit stream %s: push failed (%s)", stream_id, error[:200])
                    return pushed
            if to_seq == cursor:
                break
            now = clock.now()
            async with own_tx(rt.db, tenant_id) as tx:
                ok = await repository.advance(
                    tx, stream_id, lease_id, from_seq=cursor, to_seq=to_seq,
                    events=len(events), now=now,
                    lease_until=now + timedelta(seconds=LEASE_SECONDS))
            if not ok:  # paused, backfilled, deleted or lease lost meanwhile: stop here
                holding = False
                return pushed
            pushed += len(events)
            failures = 0
            cursor = to_seq
            if not full:
                break
    finally:
        if holding:
            with contextlib.suppress(Exception):
                async with own_tx(rt.db, tenant_id) as tx:
                    await repository.release(tx, stream_id, lease_id)
    return pushed
