"""Webhook delivery throughput: 10,000 events to one endpoint on a local receiver.

One `drift-cloud worker` process delivers; the receiver (bench/webhook_receiver.py) is another
process on the same machine. Events go into the outbox in transactions of 100 (as fast as the
database takes them) while the worker is already running, so the numbers include the whole
path: commit -> NOTIFY -> claim -> sign -> HTTP -> record.

- deliveries_per_s: events / (last arrival - first event committed)
- p50_ms / p99_ms: event-to-delivery latency (arrival - the event's created_at)

BENCH_WEBHOOK_EVENTS=500 shrinks the run (smoke test).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from uuid import UUID

from app.core.events import build_data
from app.core.outbox import emit_many
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.webhooks import service
from app.webhooks.schemas import WebhookCreate
from bench.run import Env, ScenarioResult, receiver_stats, wait_received
from bench.scenarios.receiver_common import with_receiver

NAME = "webhooks_delivery"
ORDER = 20
DESCRIPTION = "10,000 events -> one endpoint on a local receiver, one `drift-cloud worker`"
TARGET = ">= 500 deliveries/s"

BATCH = 100


async def _quiet_old_runs(rt: Runtime, tenant_id: UUID) -> None:
    async with own_tx(rt.db, tenant_id) as tx:
        await tx.execute("UPDATE webhook_endpoints SET active = false WHERE active"
                         " AND description = 'bench'")
        await tx.execute("UPDATE webhook_deliveries SET status = 'failed',"
                         " next_attempt_at = NULL WHERE status = 'pending'")


async def _emit(rt: Runtime, tenant_id: UUID, n: int) -> None:
    now = datetime.now(UTC)
    for start in range(0, n, BATCH):
        items = [build_data("sync.failed", project_id=uuid.uuid4(), error=f"bench event {i}",
                            retry_count=0, error_code="E_BENCH", occurred_at=now)
                 for i in range(start, min(n, start + BATCH))]
        async with own_tx(rt.db, tenant_id) as tx:
            await emit_many(tx, "sync.failed", items)


async def run(env: Env) -> ScenarioResult:
    n = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "10000"))
    async with with_receiver(env, "bench.webhook_receiver", _quiet_old_runs) as site:
        rt, tenant_id, receiver_url = site.rt, site.tenant_id, site.receiver_url
        async with own_tx(rt.db, tenant_id) as tx:
            await service.register(rt, tx, WebhookCreate(
                url=receiver_url + "/hook", events=["sync.failed"], description="bench"))
        site.start_worker()
        # warm up: the worker is up, listening and connected to the receiver
        await _emit(rt, tenant_id, 20)
        warm = await wait_received(receiver_url, 20, 60)
        if warm["count"] < 20:
            raise RuntimeError("the worker did not deliver the warm-up events")
        receiver_stats(receiver_url, reset=True)

        started = time.time()
        await _emit(rt, tenant_id, n)
        produced = time.time() - started
        stats = await wait_received(receiver_url, n, max(120.0, n / 50))
        elapsed = (stats["last"] or time.time()) - started
        metrics = {
            "events": n,
            "delivered": stats["count"],
            "duplicates": stats["count"] - stats["unique"],
            "deliveries_per_s": round(stats["count"] / elapsed, 1) if elapsed > 0 else 0.0,
            "event_to_delivery_p50_ms": stats["p50_ms"],
            "event_to_delivery_p99_ms": stats["p99_ms"],
            "enqueue_s": round(produced, 2),
            "total_s": round(elapsed, 2),
        }
        return ScenarioResult(name=NAME, target=TARGET, metrics=metrics)
