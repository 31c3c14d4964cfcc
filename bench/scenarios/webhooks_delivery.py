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

import asyncio
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from app.core.events import build_data
from app.core.outbox import emit_many
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.webhooks import service
from app.webhooks.schemas import WebhookCreate
from bench.run import ROOT, Env, ScenarioResult, free_port, wait_http

NAME = "webhooks_delivery"
ORDER = 20
DESCRIPTION = "10,000 events -> one endpoint on a local receiver, one `drift-cloud worker`"
TARGET = ">= 500 deliveries/s"

BATCH = 100


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback only
        data: dict[str, Any] = json.loads(resp.read())
        return data


def _post(url: str) -> None:
    req = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310
    with urllib.request.urlopen(req, timeout=5):  # noqa: S310 - loopback only
        pass


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


async def _wait_count(stats_url: str, n: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    stats = _get(stats_url)
    while stats["count"] < n and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        stats = _get(stats_url)
    return stats


async def run(env: Env) -> ScenarioResult:
    n = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "10000"))
    port = free_port()
    receiver_url = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    tenant_id = UUID(env.tenants[0]["tenant_id"])
    settings = env.rt.settings.model_copy(update={
        "webhook_allowed_cidrs": [ipaddress.ip_network("127.0.0.0/8")]})
    rt = Runtime(settings=settings, db=env.rt.db, jwt_secret=env.rt.jwt_secret,
                 secret_key=env.rt.secret_key)
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "bench.webhook_receiver", "--port", str(port)], cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        wait_http(receiver_url + "/_stats")
        await _quiet_old_runs(rt, tenant_id)
        async with own_tx(rt.db, tenant_id) as tx:
            await service.register(rt, tx, WebhookCreate(
                url=receiver_url + "/hook", events=["sync.failed"], description="bench"))
        worker_env = {**os.environ, **env.extras["env_vars"], "DRIFT_LOG_LEVEL": "warning",
                      "DRIFT_WEBHOOK_ALLOWED_CIDRS": "127.0.0.0/8"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], cwd=ROOT, env=worker_env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        # warm up: the worker is up, listening and connected to the receiver
        await _emit(rt, tenant_id, 20)
        warm = await _wait_count(receiver_url + "/_stats", 20, 60)
        if warm["count"] < 20:
            raise RuntimeError("the worker did not deliver the warm-up events")
        _post(receiver_url + "/_reset")

        started = time.time()
        await _emit(rt, tenant_id, n)
        produced = time.time() - started
        stats = await _wait_count(receiver_url + "/_stats", n, max(120.0, n / 50))
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
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        await _quiet_old_runs(rt, tenant_id)
