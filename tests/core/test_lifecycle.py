"""Graceful shutdown: SIGTERM/SIGINT stop `drift-cloud serve` cleanly (live streams end with a
final event, exit status 0, the embedded PostgreSQL stopped); /readyz fails while draining."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from app.cli import DEMO_FILE
from app.core.lifecycle import Lifecycle
from app.core.runtime import Runtime
from tests.conftest import app_with, asgi_client, bearer, free_port


def _postgres_of(pgdata: Path) -> list[psutil.Process]:
    """Running processes whose command line names this data directory (the postmaster and
    its children)."""
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
        except (psutil.Error, TypeError):
            continue
        if str(pgdata) in cmd and "postgres" in cmd:
            out.append(proc)
    return out


def _serve(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_")}
    env.update(DRIFT_DATA_DIR=str(data_dir), DRIFT_SHUTDOWN_GRACE="10",
               DRIFT_LOG_LEVEL="info", DRIFT_DEMO_PASSWORD="demo-password-1")
    return subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_ready(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early: {proc.communicate()}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("serve did not become ready")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_serve_gracefully_and_its_postgres(tmp_path: Path, sig: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(tmp_path, port)
    pgdata = (tmp_path / "pg").resolve()
    try:
        _wait_ready(url, proc)
        assert _postgres_of(pgdata), "the embedded server should be running"
        demo: dict[str, Any] = json.loads((tmp_path / DEMO_FILE).read_text())
        with httpx.stream("GET", url + "/api/v1/audit/stream",
                          headers=bearer(demo["api_key"]), timeout=30) as r:
            assert r.status_code == 200
            received = ""
            chunks = r.iter_text()
            while "event: audit" not in received:  # the stream's own audit.stream event
                received += next(chunks)
            proc.send_signal(sig)
            deadline = time.monotonic() + 20  # a stream that is not ended fails, not hangs
            for chunk in chunks:  # the server ends the stream with a final event
                received += chunk
                if time.monotonic() > deadline:
                    break
        assert "event: error" in received
        tail = received.rsplit("event: error", 1)[1]
        assert json.loads(tail.split("data: ", 1)[1].split("\n", 1)[0])["code"] == \
            "server_shutting_down"
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-3000:]
        assert not _postgres_of(pgdata), "the embedded PostgreSQL was left running"
        assert not (pgdata / "postmaster.pid").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for leftover in _postgres_of(pgdata):  # never leak a server from a failed run
            leftover.terminate()


async def test_readyz_fails_while_draining_healthz_stays_up(runtime: Runtime) -> None:
    app = app_with(runtime)
    lifecycle = Lifecycle()
    app.state.runtime.extras["lifecycle"] = lifecycle
    async with asgi_client(app) as c:
        assert (await c.get("/readyz")).status_code == 200
        lifecycle.drain()
        r = await c.get("/readyz")
        assert r.status_code == 503 and r.json() == {"ready": False, "draining": True}
        assert (await c.get("/healthz")).status_code == 200
