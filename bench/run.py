"""`make bench`: load scenarios against the running service, each compared with the raw asyncpg
baseline (bench/baseline.py) measured in the same run.

    python -m bench.run [--scenarios a,b] [--rounds 3] [--duration 10] [--workers 2]
                        [--connections 32] [--fresh]

It starts an embedded PostgreSQL under .drift-bench (kept between runs, so large seeds are
made once; --fresh wipes it), seeds 100 tenants, starts `drift-cloud serve --no-worker` and the
baseline under uvicorn with the same number of processes, and runs every scenario in
bench/scenarios/. HTTP scenarios interleave baseline and service rounds (these 2-core
machines are noisy) and report medians: requests/s, p50/p99 latency, and service/baseline.
Results go to stdout and bench/results/<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import ipaddress
import json
import os
import pkgutil
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from app.config import Settings
from app.core.embedded import EmbeddedPostgres
from app.core.migrate import run_migrations
from app.core.runtime import Runtime
from bench import wrk
from bench.wrk import Req

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".drift-bench"


@dataclass
class Env:
    """What scenarios get: the database, the seeded tenants and the two servers."""

    app_url: str
    owner_url: str
    superuser_url: str
    api: str
    baseline: str
    tenants: list[dict[str, Any]]
    rt: Runtime
    args: argparse.Namespace
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScenarioResult:
    name: str
    target: str
    metrics: dict[str, Any]
    rounds: list[dict[str, Any]] = field(default_factory=list)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    """Wait until `url` answers with any HTTP status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def spawn(module: str, *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
          ) -> subprocess.Popen[bytes]:
    """`python -m <module> <args>` from `cwd` (the repository root; another checkout runs its
    own code), in a process group of its own (so `stop_procs` reaches its children), output
    discarded; `env` is added to ours."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=cwd, env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def serve_api(env_vars: dict[str, str], workers: int, port: int, cwd: Path = ROOT
              ) -> subprocess.Popen[bytes]:
    """`drift-cloud serve --no-worker` with `workers` processes on `port`, from `cwd`."""
    return spawn("app.cli", "serve", "--no-worker", "--workers", str(workers), "--port",
                 str(port), env={**env_vars, "DRIFT_LOG_LEVEL": "warning"}, cwd=cwd)


def spawn_uvicorn(app: str, port: int, workers: int, env: dict[str, str]
                  ) -> subprocess.Popen[bytes]:
    return spawn("uvicorn", app, "--port", str(port), "--workers", str(workers), "--log-level",
                 "warning", "--no-access-log", "--no-proxy-headers", env=env)


def spawn_worker(env: Env) -> subprocess.Popen[bytes]:
    """A `drift-cloud worker` allowed to deliver to loopback receivers."""
    return spawn("app.cli", "worker", env={**env.extras["env_vars"], "DRIFT_LOG_LEVEL": "warning",
                                           "DRIFT_WEBHOOK_ALLOWED_CIDRS": "127.0.0.0/8"})


def stop_procs(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process group in order, then wait for each (SIGKILL after 15 s)."""
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def start_receiver(module: str) -> tuple[subprocess.Popen[bytes], str]:
    """A local receiver (bench/webhook_receiver.py, bench/hec_receiver.py) on a free port,
    answering: the process and its URL."""
    port = free_port()
    proc = spawn(module, "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/_stats")
    except BaseException:
        stop_procs([proc])
        raise
    return proc, url


def loopback_runtime(env: Env) -> Runtime:
    """The bench's runtime with webhook/stream URLs on 127.0.0.0/8 allowed (local receivers)."""
    settings = env.rt.settings.model_copy(update={
        "webhook_allowed_cidrs": [ipaddress.ip_network("127.0.0.0/8")]})
    return Runtime(settings=settings, db=env.rt.db, jwt_secret=env.rt.jwt_secret,
                   secret_key=env.rt.secret_key)


def receiver_stats(url: str, *, reset: bool = False) -> dict[str, Any]:
    """A local receiver's stats (GET <url>/_stats); reset=True: POST <url>/_reset (the stats,
    then forget them). bench/webhook_receiver.py and bench/hec_receiver.py answer both."""
    req = urllib.request.Request(url + ("/_reset" if reset else "/_stats"),  # noqa: S310
                                 data=b"" if reset else None, method="POST" if reset else "GET")
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback only
        data: dict[str, Any] = json.loads(resp.read())
        return data


async def wait_received(url: str, n: int, timeout: float, poll: float = 0.2
                        ) -> dict[str, Any]:
    """The receiver's stats once it counted `n` requests or `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    stats = receiver_stats(url)
    while stats["count"] < n and time.monotonic() < deadline:
        await asyncio.sleep(poll)
        stats = receiver_stats(url)
    return stats


class Servers:
    def __init__(self, env_vars: dict[str, str], workers: int, superuser_url: str) -> None:
        self.api_port, self.base_port = free_port(), free_port()
        self.procs: list[subprocess.Popen[bytes]] = [serve_api(env_vars, workers, self.api_port)]
        self.procs.append(spawn_uvicorn("bench.baseline:app", self.base_port, workers,
                                        {"BENCH_DSN": superuser_url}))
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.baseline = f"http://127.0.0.1:{self.base_port}"
        try:
            wait_http(self.api + "/readyz")
            wait_http(self.baseline + "/q/none")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        stop_procs(self.procs)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]


def http_compare(env: Env, app_load: list[Req], base_load: list[Req], *,
                 connections: int | None = None) -> ScenarioResult:
    """Interleaved rounds of baseline and service under the same wrk settings."""
    args = env.args
    conns = connections or args.connections
    wrk.run(env.baseline, base_load, duration=2, connections=conns)  # warm-up
    wrk.run(env.api, app_load, duration=2, connections=conns)
    rounds = []
    servers: Servers = env.extras["servers"]
    for _ in range(args.rounds):
        base0, pg0 = cpu_seconds(servers.procs[1].pid), cpu_seconds(postmaster_pid())
        b = wrk.run(env.baseline, base_load, duration=args.duration, connections=conns)
        base1, pg1 = cpu_seconds(servers.procs[1].pid), cpu_seconds(postmaster_pid())
        api0 = cpu_seconds(servers.procs[0].pid)
        a = wrk.run(env.api, app_load, duration=args.duration, connections=conns)
        api1, pg2 = cpu_seconds(servers.procs[0].pid), cpu_seconds(postmaster_pid())
        rounds.append({"baseline": asdict(b), "service": asdict(a), "ratio": a.rps / b.rps,
                       "cpu_us_per_request": {
                           "baseline_app": per_request(base1 - base0, b),
                           "baseline_postgres": per_request(pg1 - pg0, b),
                           "service_app": per_request(api1 - api0, a),
                           "service_postgres": per_request(pg2 - pg1, a)}})
    med = statistics.median
    metrics = {
        "service_rps": round(med(r["service"]["rps"] for r in rounds), 1),
        "service_p50_ms": round(med(r["service"]["p50_ms"] for r in rounds), 2),
        "service_p99_ms": round(med(r["service"]["p99_ms"] for r in rounds), 2),
        "baseline_rps": round(med(r["baseline"]["rps"] for r in rounds), 1),
        "baseline_p50_ms": round(med(r["baseline"]["p50_ms"] for r in rounds), 2),
        "baseline_p99_ms": round(med(r["baseline"]["p99_ms"] for r in rounds), 2),
        "ratio": round(med(r["ratio"] for r in rounds), 3),
        "errors": sum(r["service"]["errors"] for r in rounds),
    }
    for part in ("service_app", "service_postgres", "baseline_app", "baseline_postgres"):
        metrics[f"cpu_us_per_req_{part}"] = round(
            med(r["cpu_us_per_request"][part] for r in rounds), 1)
    return ScenarioResult(name="", target="", metrics=metrics, rounds=rounds)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process and all its descendants (uvicorn workers, PostgreSQL
    backends), as far as they are alive."""
    import psutil

    if pid is None:
        return 0.0
    total = 0.0
    try:
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                continue
    except psutil.NoSuchProcess:
        return 0.0
    return total


def postmaster_pid() -> int | None:
    """The embedded PostgreSQL server's postmaster (first line of postmaster.pid)."""
    for path in DATA.rglob("postmaster.pid"):
        try:
            return int(path.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
    return None


def per_request(seconds: float, result: wrk.WrkResult) -> float:
    """CPU microseconds per request (the process tree's CPU over the round / its requests)."""
    return seconds / max(1, result.requests) * 1e6


def scenarios() -> dict[str, ModuleType]:
    found = {}
    pkg = ROOT / "bench" / "scenarios"
    for info in sorted(pkgutil.iter_modules([str(pkg)]), key=lambda i: i.name):
        mod = importlib.import_module(f"bench.scenarios.{info.name}")
        if hasattr(mod, "run"):
            found[getattr(mod, "NAME", info.name)] = mod
    return dict(sorted(found.items(), key=lambda kv: getattr(kv[1], "ORDER", 100)))


async def seed_tenants(rt: Runtime, n: int) -> list[dict[str, Any]]:
    from app.tenants.service import create_tenant

    tenants = []
    for i in range(n):
        t = await create_tenant(rt.db, name=f"Bench {i}", slug=f"bench-{i:03d}",
                                owner_email=f"owner@bench-{i:03d}.example", plan="enterprise")
        tenants.append(t)
    return tenants


async def prepare(args: argparse.Namespace) -> tuple[EmbeddedPostgres, Any, list[dict[str, Any]]]:
    if args.fresh and DATA.exists():
        old = EmbeddedPostgres(DATA)
        old.start(stop_on_exit=False)
        old.stop()
        # and drop this process's handle, or the start below reuses the stopped server's
        # socket (it would look for it in the directory just removed)
        old.server.cleanup()
        shutil.rmtree(DATA)
    embedded = EmbeddedPostgres(DATA)
    urls = embedded.start(stop_on_exit=False)  # stopped explicitly when the run ends
    await embedded.bootstrap(urls)
    await asyncio.to_thread(run_migrations, urls.owner_url, "drift_app")
    seed_file = DATA / "tenants.json"
    if seed_file.exists():
        tenants = json.loads(seed_file.read_text())
    else:
        rt = Runtime.create(_settings(urls.app_url, urls.owner_url), urls.app_url)
        await rt.start()
        try:
            tenants = await seed_tenants(rt, args.tenants)
        finally:
            await rt.close()
        seed_file.write_text(json.dumps(tenants))
    return embedded, urls, tenants


def _settings(app_url: str, owner_url: str) -> Settings:
    return Settings(database_url=app_url, migration_database_url=owner_url,
                    data_dir=DATA / "data", run_worker=False, log_level="warning",
                    db_pool_max=10)


def rss_mb(pid: int) -> float:
    import psutil

    try:
        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
    except psutil.NoSuchProcess:
        return 0.0


def print_result(res: ScenarioResult) -> None:
    print(f"\n== {res.name}  (target: {res.target})")
    for key, value in res.metrics.items():
        print(f"   {key:<28} {value}")
    sys.stdout.flush()


async def main_async(args: argparse.Namespace) -> list[ScenarioResult]:
    embedded, urls, tenants = await prepare(args)
    superuser = urls.superuser_url.replace("/postgres?", "/drift?")
    env_vars = {"DRIFT_DATABASE_URL": urls.app_url, "DRIFT_MIGRATION_DATABASE_URL": urls.owner_url,
                "DRIFT_DATA_DIR": str(DATA / "data"),
                "DRIFT_SSO_ALLOWED_CIDRS": "127.0.0.0/8"}  # sso_login: its IdP is on loopback
    if not os.environ.get("BENCH_TENANT_BUDGETS"):
        # load scenarios measure throughput, not the tenant budgets (which would answer 429 to
        # most of a one-tenant SCIM load): every plan unlimited, unless BENCH_TENANT_BUDGETS=1
        # (the product's default budgets, checked on every request: their overhead)
        env_vars.update({"DRIFT_API_RATE_LIMITS": "", "DRIFT_SCIM_RATE_LIMITS": ""})
    rt = Runtime.create(_settings(urls.app_url, urls.owner_url), urls.app_url)
    await rt.start()
    servers = Servers(env_vars, args.workers, superuser)
    env = Env(app_url=urls.app_url, owner_url=urls.owner_url, superuser_url=superuser,
              api=servers.api, baseline=servers.baseline, tenants=tenants, rt=rt, args=args,
              extras={"servers": servers, "env_vars": env_vars})
    selected = scenarios()
    if args.scenarios:
        wanted = args.scenarios.split(",")
        unknown = set(wanted) - set(selected)
        if unknown:
            raise SystemExit(f"unknown scenarios {sorted(unknown)}; have {sorted(selected)}")
        selected = {k: v for k, v in selected.items() if k in wanted}
    results = []
    try:
        for name, mod in selected.items():
            print(f"-- running {name}: {getattr(mod, 'DESCRIPTION', '')}", flush=True)
            res: ScenarioResult = await mod.run(env)
            res.name, res.target = name, getattr(mod, "TARGET", "")
            print_result(res)
            results.append(res)
    finally:
        servers.stop()
        await rt.close()
        embedded.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="", help="comma-separated names (default: all)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk round")
    parser.add_argument("--workers", type=int, default=2, help="processes for both servers")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--fresh", action="store_true",
                        help="wipe .drift-bench first (by default its seeded data is reused)")
    args = parser.parse_args()
    started = datetime.now(UTC)
    results = asyncio.run(main_async(args))
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    out = out_dir / f"{started:%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"started": started.isoformat(), "args": vars(args),
                               "cpus": os.cpu_count(),
                               "results": [asdict(r) for r in results]}, indent=2, default=str))
    print(f"\nresults: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
