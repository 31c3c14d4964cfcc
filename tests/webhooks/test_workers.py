"""Several workers and crashed workers: every event delivered, none sent twice by two
workers, nothing lost when a worker process is killed mid-run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from app.core import clock
from app.core.runtime import Runtime
from app.webhooks import dispatcher
from app.worker import Job, Worker
from tests.conftest import JWT_SECRET, SECRET_KEY, DbInfo, Tenant, running, runtime_with
from tests.webhooks.conftest import Receiver, Reply
from tests.webhooks.helpers import (
    deliver,
    deliveries,
    emit_events,
    notified_worker,
    register,
    subscribed_hook,
)

ROOT = Path(__file__).resolve().parents[2]


async def test_two_workers_deliver_1000_events_exactly_once(
        client: httpx.AsyncClient, runtime: Runtime, test_db: DbInfo, tenant: Tenant,
        receiver: Receiver) -> None:
    hook = await subscribed_hook(client, tenant, receiver, ["sync.failed"])
    attempts = [0, 0]
    workers: list[Worker] = []
    runtimes: list[Runtime] = []
    for i in range(2):  # two independent workers: own pools, own listeners
        settings = runtime.settings.model_copy(update={"webhook_endpoint_concurrency": 16})
        rt = Runtime.create(settings, test_db.app_url)
        await rt.start()
        runtimes.append(rt)

        async def run(r: Runtime, i: int = i) -> int:
            n = await dispatcher.run_once(r, tenants={tenant.id})
            attempts[i] += n
            return n

        workers.append(Worker(rt, jobs=[Job("webhooks", run, interval=0.5,
                                            channels=("drift_webhooks",))]))
    try:
        async with running(workers):
            await asyncio.sleep(0.5)  # both listening
            event_ids = await emit_events(tenant, 1000)
            await hook.wait_for(1000, timeout=120)
            for _ in range(500):  # until both have recorded their last results
                if len(await deliveries(tenant, "d.status = 'delivered'")) == 1000:
                    break
                await asyncio.sleep(0.05)
            for _ in range(500):  # and both runs have returned their counts
                if sum(attempts) >= 1000:
                    break
                await asyncio.sleep(0.05)
    finally:
        for rt in runtimes:
            await rt.close()
    await asyncio.sleep(0.2)
    ids = hook.ids()
    assert len(ids) == 1000 and set(ids) == {str(e) for e in event_ids}  # each exactly once
    rows = await deliveries(tenant)
    assert len(rows) == 1000
    assert {(r["status"], r["attempt"], r["attempts_logged"]) for r in rows} == {
        ("delivered", 1, 1)}
    assert attempts[0] > 0 and attempts[1] > 0, attempts  # both workers took part
    assert sum(attempts) == 1000  # and no attempt was made twice


def _worker_env(test_db: DbInfo, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_")}
    env.update({
        "DRIFT_DATABASE_URL": test_db.app_url,
        "DRIFT_MIGRATION_DATABASE_URL": test_db.owner_url,
        "DRIFT_DATA_DIR": str(tmp_path),
        "DRIFT_SECRET_KEY": SECRET_KEY,
        "DRIFT_JWT_SECRET": JWT_SECRET,
        "DRIFT_WEBHOOK_ALLOWED_CIDRS": "127.0.0.0/8",
        "DRIFT_LOG_LEVEL": "warning",
        **extra,
    })
    return env


def _worker(test_db: DbInfo, tmp_path: Path, concurrency: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"], cwd=ROOT,
        env=_worker_env(test_db, tmp_path, DRIFT_WEBHOOK_ENDPOINT_CONCURRENCY=concurrency),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _end(proc: subprocess.Popen[bytes], sig: int) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


async def test_a_killed_worker_loses_nothing(
        client: httpx.AsyncClient, runtime: Runtime, test_db: DbInfo, tenant: Tenant,
        receiver: Receiver, tmp_path: Path) -> None:
    """SIGKILL in the middle of 1,000 deliveries; a new worker process delivers the rest, and
    what was in flight at the kill comes back when its lease ends: every event arrives, no
    delivery is left pending or leased."""
    hook = receiver.hook(Reply(200, delay=0.05))
    await register(client, tenant, hook.url, ["sync.failed"])
    event_ids = {str(e) for e in await emit_events(tenant, 1000)}
    proc = await asyncio.to_thread(_worker, test_db, tmp_path, "16")
    try:
        await hook.wait_for(300, timeout=90)
        os.kill(proc.pid, signal.SIGKILL)  # mid-run: no chance to clean up
        await asyncio.to_thread(proc.wait, 30)
    finally:
        _end(proc, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL

    now = clock.now()
    rows = await deliveries(tenant)
    leased = {str(r["event_id"]) for r in rows
              if r["status"] == "pending" and r["locked_until"] is not None
              and r["locked_until"] > now}
    done_before = {str(r["event_id"]) for r in rows if r["status"] == "delivered"}
    assert done_before and leased, "killed while deliveries were in flight"
    assert len(done_before) < 1000 - len(leased), "killed in the middle of the run"

    # A new worker process delivers everything that was not in flight at the kill ...
    proc = await asyncio.to_thread(_worker, test_db, tmp_path, "32")
    try:
        for _ in range(1200):
            rows = await deliveries(tenant)
            if sum(r["status"] == "delivered" for r in rows) == 1000 - len(leased):
                break
            await asyncio.sleep(0.05)
    finally:
        assert _end(proc, signal.SIGTERM) == 0  # a graceful stop
    # ... and leaves the leased rows alone until their lease ends
    row_state: dict[str, Any] = {str(r["event_id"]): r for r in await deliveries(tenant)}
    assert {e for e, r in row_state.items() if r["status"] != "delivered"} == leased
    assert all(row_state[e]["attempt"] == 1 for e in leased)
    # then they are delivered again: at least once, with the same webhook id
    clock.advance(timedelta(seconds=61))
    await deliver(runtime, tenant)
    rows = await deliveries(tenant)
    assert len(rows) == 1000
    # nothing stuck in flight: every delivery delivered, no lease, nothing scheduled
    assert {(r["status"], r["locked_until"], r["next_attempt_at"]) for r in rows} == {
        ("delivered", None, None)}
    received = hook.ids()
    assert set(received) == event_ids  # nothing lost
    duplicates = {e for e in received if received.count(e) > 1}
    assert duplicates <= leased  # only what was in flight at the kill came twice
    for r in rows:
        if str(r["event_id"]) in leased:  # the lost attempt counted, the retry is a new one
            assert (r["attempt"], r["attempts_logged"]) == (2, 1)
        else:
            assert (r["attempt"], r["attempts_logged"]) == (1, 1)


async def test_a_stopping_worker_hands_interrupted_deliveries_back(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    """A graceful stop (deploys) does not leave deliveries leased for a minute: the attempts
    in flight are logged as interrupted and due again at once, without using up a retry."""
    hook = receiver.hook(Reply(200, delay=30), Reply(200))
    await register(client, tenant, hook.url, ["sync.failed"])
    worker = notified_worker(runtime, tenant)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.3)
        await emit_events(tenant, 1)
        await hook.wait_for(1)
    finally:
        worker.stop()
        await task
    (row,) = await deliveries(tenant)
    assert row["status"] == "pending" and row["locked_until"] is None
    assert row["next_attempt_at"] <= clock.now() and row["attempt"] == 1
    assert row["error"].startswith("interrupted") and row["attempts_logged"] == 1
    await deliver(runtime, tenant)  # no lease to wait for
    (row,) = await deliveries(tenant)
    assert row["status"] == "delivered" and row["attempt"] == 2
    assert hook.ids()[0] == hook.ids()[1]


async def test_a_busy_run_serves_work_that_another_tenant_queues_meanwhile(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant,
        receiver: Receiver) -> None:
    # A busy run claims from the tenants it already knows to have work and asks which
    # tenants have due work only now and then: a tenant whose events arrive in the middle of
    # the run is still served by that run, not left for the next one.
    slow = receiver.hook(Reply(200, delay=0.1))
    fast = receiver.hook(Reply(200))
    await register(client, tenant, slow.url, ["sync.failed"])
    await register(client, other_tenant, fast.url, ["sync.failed"])
    await emit_events(tenant, 12)
    run = asyncio.create_task(dispatcher.run_once(
        runtime_with(runtime, webhook_endpoint_concurrency=1),
        tenants={tenant.id, other_tenant.id}))
    while not slow.requests:  # the run is busy with the slow tenant's first delivery
        await asyncio.sleep(0.01)
    await emit_events(other_tenant, 3)
    assert await run == 15
    assert len(fast.requests) == 3 and len(slow.requests) == 12
    assert {r["status"] for r in await deliveries(other_tenant)} == {"delivered"}
