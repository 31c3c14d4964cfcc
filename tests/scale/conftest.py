"""A real pgbouncer in transaction pooling mode in front of the test database (docs/scaling.md).

The fixture runs Debian's `pgbouncer` binary (bench/pgbouncer.py; installed by `make install`)
in the foreground with its own ini on a free loopback port: `pool_mode = transaction`,
`default_pool_size = 2`, SCRAM auth from an auth_file holding the runtime role's password. It
is never the system service.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.core.runtime import Runtime
from app.tenants.service import create_tenant
from bench.pgbouncer import PgBouncer
from tests.conftest import (
    JWT_SECRET,
    SECRET_KEY,
    DbInfo,
    SmtpSink,
    Tenant,
    User,
    app_client,
    free_port,
    started_runtime,
)

POOL_SIZE = 2
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Bouncer:
    port: int
    app_url: str  # the runtime role, through pgbouncer


@pytest.fixture(scope="session")
def pgbouncer(test_db: DbInfo) -> Iterator[Bouncer]:
    bouncer = PgBouncer(test_db.app_url, pool_size=POOL_SIZE).start()
    try:
        yield Bouncer(port=bouncer.port, app_url=bouncer.url)
    finally:
        bouncer.stop()


def pooled_settings(settings: Settings, bouncer: Bouncer, *, direct: bool = True,
                    **overrides: Any) -> Settings:
    """The test settings with DRIFT_DATABASE_URL at pgbouncer (transaction pooling) and, when
    `direct`, DRIFT_DIRECT_DATABASE_URL at the server itself."""
    update: dict[str, Any] = {
        "database_url": bouncer.app_url, "database_pooler": "pgbouncer",
        "direct_database_url": settings.database_url if direct else None,
        "db_pool_max": 16,
    }
    update.update(overrides)
    return settings.model_copy(update=update)


@pytest.fixture(scope="session")
def pooled_settings_direct(settings: Settings, pgbouncer: Bouncer) -> Settings:
    return pooled_settings(settings, pgbouncer)


@pytest.fixture(scope="session")
async def pooled_runtime(pooled_settings_direct: Settings) -> AsyncIterator[Runtime]:
    """A runtime whose every request transaction goes through pgbouncer."""
    async with started_runtime(pooled_settings_direct) as rt:
        yield rt


@pytest.fixture(scope="session")
async def pooled_client(pooled_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pooled_runtime) as c:
        yield c


@pytest.fixture
def pooled_tenant_factory(pooled_runtime: Runtime) -> Any:
    """Tenants created through pgbouncer too."""
    async def factory() -> Tenant:
        slug = f"t-{secrets.token_hex(6)}"
        email = f"owner@{slug}.example"
        out = await create_tenant(pooled_runtime.db, name=f"Tenant {slug}", slug=slug,
                                  owner_email=email, owner_password=None, plan="enterprise",
                                  seat_limit=None)
        owner = User(id=uuid.UUID(out["owner_user_id"]), email=email, role="owner",
                     api_key=out["api_key"])
        return Tenant(id=uuid.UUID(out["tenant_id"]), slug=slug, owner=owner,
                      rt=pooled_runtime)

    return factory



# ---- many processes on one database (tests/scale/test_soak.py) ----

API_PROCESSES = 3
WORKER_PROCESSES = 2
# Only the free plan has an API budget (the soak's enterprise tenant is unlimited); the window is
# an hour so a test's burst lands in one window (test_soak retries once if it straddles two).
SOAK_API_RATE_LIMIT = 30
SOAK_RATE_WINDOW = 3600
READY_TIMEOUT = 120.0  # a loaded 2-core machine starting five Python processes at once


class Process:
    """One `drift-cloud` process (python -m app.cli ...) with its output in a log file. The
    same arguments and environment are used again by `start()` after `kill()`."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path,
                 port: int | None = None) -> None:
        self.name, self.args, self.env, self.port = name, args, env, port
        self.log_path = logs / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Process:
        self.starts += 1
        with self.log_path.open("ab") as out:
            out.write(f"---- start {self.starts}: {' '.join(self.args)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen([sys.executable, "-m", "app.cli", *self.args],
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=REPO_ROOT)
        return self

    def kill(self) -> None:
        """SIGKILL: no drain, no lifespan shutdown, leases left held (a crash)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n"
                                 f"{self.log_tail()}")

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """An API: GET /readyz answers 200. A worker: it printed that it runs."""
        deadline = time.monotonic() + timeout
        marker = f"---- start {self.starts}:"
        async with httpx.AsyncClient(timeout=5) as c:
            while True:
                self._check_alive()
                if self.port is not None:
                    try:
                        if (await c.get(self.url + "/readyz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                else:
                    text = self.log_path.read_text(errors="replace")
                    if "worker running" in text.split(marker, 1)[-1]:
                        return
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} not ready within {timeout}s:\n"
                                         f"{self.log_tail()}")
                await asyncio.sleep(0.2)


@dataclass
class Cluster:
    apis: list[Process]
    workers: list[Process]

    @property
    def processes(self) -> list[Process]:
        return [*self.apis, *self.workers]


def cluster_env(test_db: DbInfo, data_dir: Path, smtp_url: str) -> dict[str, str]:
    """The settings every process of the cluster shares (docs/scaling.md, "The deployment"):
    one database, the same secrets, loopback webhooks allowed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_")}
    env.update({
        "PYTHONUNBUFFERED": "1",
        "DRIFT_DATABASE_URL": test_db.app_url,  # already migrated: no migration URL given
        "DRIFT_JWT_SECRET": JWT_SECRET,
        "DRIFT_SECRET_KEY": SECRET_KEY,
        "DRIFT_DATA_DIR": str(data_dir),
        "DRIFT_LOG_LEVEL": "warning",
        "DRIFT_WEBHOOK_ALLOWED_CIDRS": "127.0.0.0/8,::1/128",
        "DRIFT_SMTP_URL": smtp_url,
        "DRIFT_DB_POOL_MAX": "8",
        "DRIFT_SHUTDOWN_GRACE": "1",
        "DRIFT_API_RATE_LIMITS": f"free={SOAK_API_RATE_LIMIT}",
        "DRIFT_SCIM_RATE_LIMITS": "free=0",
        "DRIFT_RATE_LIMIT_WINDOW_SECONDS": str(SOAK_RATE_WINDOW),
        "DRIFT_LOGIN_IP_MAX_FAILURES": "1000000",
        "DRIFT_TOKEN_IP_MAX_FAILURES": "1000000",
        # a killed worker's claims come back after max(10, 6 x 5) = 30 s, not the default 60
        "DRIFT_WEBHOOK_TIMEOUT": "5",
        "DRIFT_WEBHOOK_LEASE_MIN_SECONDS": "10",
    })
    return env


@pytest.fixture(scope="module")
async def cluster(test_db: DbInfo, smtp_sink: SmtpSink,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    """3 x `drift-cloud serve --no-worker` and 2 x `drift-cloud worker` on the test database,
    each API on its own free loopback port."""
    logs = tmp_path_factory.mktemp("cluster")
    env = cluster_env(test_db, logs, smtp_sink.url)
    apis = []
    for i in range(API_PROCESSES):
        port = free_port()
        apis.append(Process(f"api{i + 1}", ["serve", "--no-worker", "--host", "127.0.0.1",
                                            "--port", str(port)], env, logs, port=port))
    workers = [Process(f"worker{i + 1}", ["worker"], env, logs)
               for i in range(WORKER_PROCESSES)]
    c = Cluster(apis=apis, workers=workers)
    try:
        for p in c.processes:
            p.start()
        await asyncio.gather(*(p.wait_ready() for p in c.processes))
        yield c
    finally:
        for p in c.processes:
            p.stop()


from tests.webhooks.conftest import receiver  # noqa: E402,F401  (the real HTTP receiver)
