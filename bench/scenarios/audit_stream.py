"""Audit stream throughput: events/s pushed to a local Splunk-HEC-format receiver.

N audit events (default 50,000) are recorded first; then a splunk_hec stream is created with
`from_seq` at the first of them (a backfill) and one `drift-cloud worker` process pushes them
to bench/hec_receiver.py (another process on the same machine, parsing every HEC event).

- events_per_s: events / (last arrival - stream created)
- live_events_per_s: a second phase records N/5 more events while the worker runs, measured
  from the first insert to the last arrival (so it is bounded by the insert rate too)
- gaps: seqs that arrived out of order or after a hole (must be 0)

BENCH_AUDIT_STREAM_EVENTS=2000 shrinks the run (smoke test).
"""

from __future__ import annotations

import asyncio
import os
import time
from uuid import UUID

from app.audit import siem_service
from app.audit.schemas import StreamCreate
from app.core.audit_record import record
from app.core.context import Actor, RequestContext
from app.core.runtime import Runtime
from app.core.tx import own_tx
from bench.run import Env, ScenarioResult, receiver_stats, wait_received
from bench.scenarios.receiver_common import with_receiver

NAME = "audit_stream"
ORDER = 21
DESCRIPTION = "N audit events -> a splunk_hec stream on a local HEC receiver, one worker"
TARGET = ">= 5,000 events/s"

TX_EVENTS = 500


async def _record(rt: Runtime, tenant_id: UUID, n: int) -> tuple[int, int]:
    """(first seq, last seq) of `n` new events (nothing else writes this tenant's log while
    the scenario runs). The events are written with COMMIT (Tx.defer), so the chain's end is
    read before and after, not inside a transaction."""
    ctx = RequestContext(actor=Actor.system(), request_id="bench")
    before = await _chain_end(rt, tenant_id)
    for start in range(0, n, TX_EVENTS):
        async with own_tx(rt.db, tenant_id, ctx) as tx:
            for i in range(start, min(n, start + TX_EVENTS)):
                await record(tx, "project.update", resource_type="project",
                             resource_id=f"bench-{i}", metadata={"i": i})
    return before + 1, await _chain_end(rt, tenant_id)


async def _chain_end(rt: Runtime, tenant_id: UUID) -> int:
    async with own_tx(rt.db, tenant_id) as tx:
        return int(await tx.fetchval("SELECT coalesce(max(last_seq), 0) FROM audit_chain"))


async def _pause_old(rt: Runtime, tenant_id: UUID) -> None:
    async with own_tx(rt.db, tenant_id) as tx:
        await tx.execute("DELETE FROM audit_streams WHERE name = 'bench'")


async def run(env: Env) -> ScenarioResult:
    n = int(os.environ.get("BENCH_AUDIT_STREAM_EVENTS", "50000"))
    async with with_receiver(env, "bench.hec_receiver", _pause_old) as site:
        rt, tenant_id, receiver_url = site.rt, site.tenant_id, site.receiver_url
        t0 = time.time()
        first, last = await _record(rt, tenant_id, n)
        insert_s = time.time() - t0
        site.start_worker()
        await asyncio.sleep(2.0)  # the worker is up
        started = time.time()
        async with own_tx(rt.db, tenant_id, RequestContext(actor=Actor.system())) as tx:
            await siem_service.create(rt, tx, StreamCreate(
                name="bench", type="splunk_hec", url=receiver_url + "/services/collector/event",
                token="bench-token", from_seq=first))  # noqa: S106 - a bench token
        stats = await wait_received(receiver_url, last - first + 1, max(120.0, n / 200), 0.1)
        elapsed = (stats["last"] or time.time()) - started
        backfill = {"events": last - first + 1, "received": stats["count"],
                    "unique": stats["unique"], "gaps": stats["gaps"],
                    "events_per_s": round(stats["count"] / elapsed, 1) if elapsed else 0.0,
                    "total_s": round(elapsed, 2)}
        receiver_stats(receiver_url, reset=True)
        live_n = max(n // 5, 1)
        started = time.time()
        lfirst, llast = await _record(rt, tenant_id, live_n)
        produced = time.time() - started
        # the live phase also pushes its own audit_stream.create-free tail: wait for llast
        stats = await wait_received(receiver_url, llast - lfirst + 1, 120.0, 0.1)
        elapsed = (stats["last"] or time.time()) - started
        metrics = {
            **backfill,
            "insert_events_per_s": round(n / insert_s, 1),
            "live_events": llast - lfirst + 1,
            "live_received": stats["count"],
            "live_events_per_s": round(stats["count"] / elapsed, 1) if elapsed else 0.0,
            "live_enqueue_s": round(produced, 2),
            "live_event_to_siem_p50_ms": stats["p50_ms"],
            "live_event_to_siem_p99_ms": stats["p99_ms"],
        }
        return ScenarioResult(name=NAME, target=TARGET, metrics=metrics)
