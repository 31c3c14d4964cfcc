"""Shared by the scenarios in which one `drift-cloud worker` delivers to a local receiver
(webhooks_delivery, audit_stream): the first bench tenant, a runtime that may reach loopback,
the receiver process, and the clean-up of what a run leaves behind."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

from app.core.runtime import Runtime
from bench.run import Env, loopback_runtime, spawn_worker, start_receiver, stop_procs

Tidy = Callable[[Runtime, UUID], Awaitable[None]]


@dataclass
class Site:
    env: Env
    rt: Runtime
    tenant_id: UUID
    receiver_url: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> None:
        self.procs.append(spawn_worker(self.env))


@asynccontextmanager
async def with_receiver(env: Env, receiver: str, tidy: Tidy) -> AsyncIterator[Site]:
    """`receiver` (the module bench.webhook_receiver or bench.hec_receiver) started and `tidy`
    run (what earlier runs left in the tenant); at the end every process started (the worker
    after the receiver) is stopped, the last first, and `tidy` runs again."""
    site = Site(env, loopback_runtime(env), UUID(env.tenants[0]["tenant_id"]))
    try:
        proc, site.receiver_url = start_receiver(receiver)
        site.procs.append(proc)
        await tidy(site.rt, site.tenant_id)
        yield site
    finally:
        stop_procs(site.procs[::-1])
        await tidy(site.rt, site.tenant_id)
