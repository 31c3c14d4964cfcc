"""End-to-end harness: the domain fixtures reused, a PostgreSQL of a test's own, `drift-cloud`
subprocesses, and a receiver that misbehaves at the TCP level.

- The webhook harness (`receiver`, tenant hygiene: no active endpoint or pending delivery
  survives a test) and the SCIM client (`make_scim`, `scim`) come from their domain conftests.
- `fresh_db`: an embedded PostgreSQL in a temporary directory, bootstrapped and migrated, never
  the shared session database, so a test may stop and restart it (`stop()`, `restart()`).
- `procs`: starts `drift-cloud serve` / `drift-cloud worker` subprocesses; every one is stopped
  by pid when the test ends (SIGTERM, then SIGKILL), whatever happened.
- `bad_server`: a raw TCP server that resets connections or trickles a response forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings, parse_networks
from app.core.embedded import DatabaseUrls, EmbeddedPostgres
from app.core.migrate import run_migrations
from tests.conftest import JWT_SECRET, SECRET_KEY, free_port
from tests.scim.conftest import make_scim, scim  # noqa: F401 - fixtures, registered by import
from tests.webhooks.conftest import make_tenant, other_tenant, receiver, tenant  # noqa: F401 - fixtures, registered by import

ROOT = Path(__file__).resolve().parents[2]


# ---- drift-cloud commands ----

def drift_env(app_url: str, owner_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a `drift-cloud` subprocess on a given database (the suite's secrets,
    loopback webhooks allowed, links under https://drift.test)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_")}
    env.update({
        "DRIFT_DATABASE_URL": app_url,
        "DRIFT_MIGRATION_DATABASE_URL": owner_url,
        "DRIFT_DATA_DIR": str(data_dir),
        "DRIFT_SECRET_KEY": SECRET_KEY,
        "DRIFT_JWT_SECRET": JWT_SECRET,
        "DRIFT_WEBHOOK_ALLOWED_CIDRS": "127.0.0.0/8",
        "DRIFT_PUBLIC_URL": "https://drift.test",
        "DRIFT_LOG_LEVEL": "warning",
        **extra,
    })
    return env


async def cli(env: dict[str, str], *args: str) -> Any:
    """Run `drift-cloud <args> --json` to completion; its JSON output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", *args, "--json", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


# ---- a PostgreSQL of the test's own ----

@dataclass
class FreshDatabase:
    """An embedded PostgreSQL that only one test uses: it may be stopped and started again."""

    directory: Path
    embedded: EmbeddedPostgres
    urls: DatabaseUrls

    def settings(self, base: Settings, **overrides: Any) -> Settings:
        """`base` (the suite's settings) pointed at this database."""
        for key in ("trusted_proxies", "webhook_allowed_cidrs", "ip_allowlist_bypass_cidrs"):
            if isinstance(overrides.get(key), str):
                overrides[key] = parse_networks(overrides[key])
        return base.model_copy(update={"database_url": self.urls.app_url,
                                       "migration_database_url": self.urls.owner_url,
                                       "data_dir": self.directory / "data", **overrides})

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for `drift-cloud` subprocesses using this database."""
        return drift_env(self.urls.app_url, self.urls.owner_url, self.directory / "data",
                         **extra)

    @property
    def server(self) -> Any:
        return self.embedded.server

    def stop(self) -> None:
        """A clean (fast) shutdown: open sessions are terminated, new connections refused."""
        self.embedded.stop()
        assert not self.running(), "PostgreSQL did not stop"

    def restart(self) -> None:
        """Start the stopped server again on the same data directory (and socket)."""
        with type(self.server)._lock:
            self.server.ensure_postgres_running()
        assert self.running()

    def running(self) -> bool:
        # postmaster.pid exists exactly while the server runs (pg_ctl stop -w waits for it
        # to go); the process object would also call a not yet reaped zombie "running"
        return (self.directory / "pg" / "postmaster.pid").exists()


@pytest.fixture
def fresh_db() -> Iterator[FreshDatabase]:
    # A short path: the server's Unix socket lives in the data directory.
    directory = Path(tempfile.mkdtemp(prefix="drift-e2e-"))
    embedded = EmbeddedPostgres(directory)
    try:
        urls = embedded.start(stop_on_exit=True)
        asyncio.run(embedded.bootstrap(urls))
        run_migrations(urls.owner_url, "drift_app")
        yield FreshDatabase(directory=directory, embedded=embedded, urls=urls)
    finally:
        if embedded.server is not None:
            embedded.server.cleanup()  # stops it (this process holds the last handle)
        shutil.rmtree(directory, ignore_errors=True)


# ---- drift-cloud subprocesses ----

@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Procs:
    tmp: Path
    running: list[Proc] = field(default_factory=list)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as fh:
            popen = subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=ROOT,
                                     env=env, stdout=fh, stderr=subprocess.STDOUT)
        proc = Proc(name, popen, log)
        self.running.append(proc)
        return proc

    async def serve(self, name: str, env: dict[str, str], *, worker: bool = False) -> Proc:
        """`drift-cloud serve` on a free port; returns once /readyz answers 200."""
        port = free_port()
        args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        if not worker:
            args.append("--no-worker")
        proc = self._spawn(name, args, env)
        proc.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=proc.url, timeout=2) as c:
            while True:
                if proc.popen.poll() is not None:
                    raise AssertionError(f"{name} exited ({proc.popen.returncode}):\n"
                                         f"{proc.output()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await c.get("/readyz")).status_code == 200:
                        return proc
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name} not ready within 60s:\n{proc.output()}")
                await asyncio.sleep(0.1)

    async def worker(self, name: str, env: dict[str, str]) -> Proc:
        """`drift-cloud worker`; returns once it says it runs."""
        proc = self._spawn(name, ["worker"], env)
        deadline = time.monotonic() + 60
        while "worker running" not in proc.output():
            if proc.popen.poll() is not None:
                raise AssertionError(f"{name} exited ({proc.popen.returncode}):\n"
                                     f"{proc.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not start within 60s:\n{proc.output()}")
            await asyncio.sleep(0.1)
        return proc

    def stop(self, proc: Proc, sig: int = signal.SIGTERM) -> int:
        if proc.popen.poll() is None:
            proc.popen.send_signal(sig)
            try:
                proc.popen.wait(20)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(10)
        return proc.popen.returncode

    def stop_all(self) -> None:
        for proc in reversed(self.running):
            self.stop(proc)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    try:
        yield p
    finally:
        p.stop_all()


# ---- a receiver that misbehaves below HTTP ----

@dataclass
class BadServer:
    """A raw TCP "HTTP server" whose path picks the misbehaviour; counts requests per mode.
    - `/reset`: reads the request, then closes the connection with a TCP RST (SO_LINGER 0);
    - `/trickle`: a 200 status line and headers at once, then one body byte every 0.2 s,
      forever (a response that never completes)."""

    port: int
    requests: dict[str, int] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            mode = head.split(b" ", 2)[1].decode("latin-1").strip("/")
            self.requests[mode] = self.requests.get(mode, 0) + 1
            if mode == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: 1000000\r\n\r\n")
            while not writer.is_closing():  # never finishes
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.2)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            pass
        finally:
            writer.transport.abort()
            self.tasks.discard(task)


@pytest.fixture
async def bad_server() -> AsyncIterator[BadServer]:
    server = BadServer(port=free_port())
    srv = await asyncio.start_server(server.handle, "127.0.0.1", server.port)
    try:
        yield server
    finally:
        srv.close()
        for task in list(server.tasks):
            task.cancel()
        await asyncio.gather(*server.tasks, return_exceptions=True)
