"""The worker: delivers webhooks, sends email, pushes audit streams and runs scheduled jobs.

Each job runs in its own task, so a slow one never delays another. A job is woken by
PostgreSQL NOTIFY on its channels (one listening connection per worker, not per job) and in
any case every `interval` seconds; when a run did work it runs again at once to drain the
queue. Jobs claim rows with FOR UPDATE SKIP LOCKED, so any number of workers can run.
`drift-cloud serve` runs one worker in-process; `drift-cloud worker` runs one on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from app.audit import retention as audit_retention
from app.audit import siem_push
from app.core import clock
from app.core.runtime import Runtime
from app.email import sender
from app.webhooks import dispatcher, expiring

log = logging.getLogger("drift.worker")


@dataclass(frozen=True)
class Job:
    name: str
    run_once: Callable[[Runtime], Awaitable[int]]
    interval: float
    channels: tuple[str, ...] = ()


async def ensure_audit_partitions(rt: Runtime) -> int:
    """Keep monthly audit partitions three months ahead (idempotent)."""
    today = clock.now().date()
    async with rt.db.pool.acquire() as conn:
        created: int = await conn.fetchval(
            "SELECT drift_api.ensure_audit_partitions($1, 3)", today)
    if created:
        log.info("created %d audit partition(s)", created)
    return 0  # never "drain": this is a periodic job


JOBS: list[Job] = [
    Job("email", sender.run_once, interval=30.0, channels=("drift_email",)),
    Job("audit-partitions", ensure_audit_partitions, interval=6 * 3600.0),
    Job("audit-retention", audit_retention.run_once, interval=24 * 3600.0),
    Job("webhooks", dispatcher.run_once, interval=1.0, channels=("drift_webhooks",)),
    # audit log streams to SIEMs: woken by the audit trigger's NOTIFY, else every second
    Job("audit-streams", siem_push.run_once, interval=1.0, channels=("drift_audit",)),
    Job("apikey-expiring", expiring.run_once, interval=expiring.INTERVAL),
]


class Worker:
    def __init__(self, rt: Runtime, jobs: list[Job] | None = None) -> None:
        self.rt = rt
        self.jobs = list(jobs if jobs is not None else JOBS)
        self.wake = {job.name: asyncio.Event() for job in self.jobs}
        self.stopping = asyncio.Event()

    def _on_notify(self, _conn: object, _pid: int, channel: str, _payload: str) -> None:
        for job in self.jobs:
            if channel in job.channels:
                self.wake[job.name].set()

    async def _listen(self) -> None:
        channels = sorted({c for job in self.jobs for c in job.channels})
        if not channels or self.rt.db.listen_url is None:  # no direct URL: poll (intervals)
            return
        while not self.stopping.is_set():
            conn: asyncpg.Connection | None = None
            lost = asyncio.Event()
            try:
                conn = await self.rt.db.connect_listener()
                # reconnect as soon as the connection closes (a database restart), not at the
                # next probe: notifications sent meanwhile would reach nobody
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                for channel in channels:
                    await conn.add_listener(channel, self._on_notify)
                for event in self.wake.values():  # catch up on anything missed while away
                    event.set()
                while not self.stopping.is_set() and not conn.is_closed():
                    with contextlib.suppress(TimeoutError):  # run() cancels us on stop
                        await asyncio.wait_for(lost.wait(), timeout=5.0)
                    if not self.stopping.is_set() and not conn.is_closed():
                        await conn.execute("SELECT 1")  # notice a dead connection
            except Exception as exc:
                log.warning("worker listener lost (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(1.0)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()

    async def _run_job(self, job: Job) -> None:
        wake = self.wake[job.name]
        while not self.stopping.is_set():
            wake.clear()
            try:
                did = await job.run_once(self.rt)
            except Exception:
                log.exception("worker job %s failed; retrying shortly", job.name)
                did = 0
                await asyncio.sleep(1.0)
            if did:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=job.interval)

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._listen(), name="worker-listen")]
        tasks += [asyncio.create_task(self._run_job(j), name=f"worker-{j.name}")
                  for j in self.jobs]
        try:
            await self.stopping.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        self.stopping.set()
