"""projects_get with 1 and 2 API processes, straight to PostgreSQL and through pgbouncer.

Five API servers run side by side over the same database: {1, 2} processes x {direct,
pgbouncer in transaction pooling mode (DRIFT_DATABASE_POOLER=pgbouncer, statement cache off,
LISTEN on DRIFT_DIRECT_DATABASE_URL)}, and 1 process direct with the statement cache off (the
cache's share of pgbouncer's cost). Each round runs wrk against each of them in turn (the same
load as projects_get), so the machine's noise hits all alike. docs/scaling.md.
"""

from __future__ import annotations

import statistics
import subprocess
from typing import Any

from bench import wrk
from bench.pgbouncer import PgBouncer, version
from bench.run import Env, ScenarioResult, free_port, serve_api, stop_procs, wait_http
from bench.scenarios.projects_get import seed_projects
from bench.wrk import Req

NAME = "scale_out"
ORDER = 90
DESCRIPTION = "projects_get rps: 1 and 2 API processes, direct and through pgbouncer"
TARGET = "pgbouncer/direct ratio measured; 2 processes > 1 process"
POOL_SIZE = 4  # pgbouncer server connections (2 cores: more only queue in PostgreSQL)


def _serve(env_vars: dict[str, str], processes: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = serve_api(env_vars, processes, port)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/readyz")
    return proc, url


async def run(env: Env) -> ScenarioResult:
    projects = env.extras.get("projects") or await seed_projects(env)
    load = [Req("GET", f"/api/v1/projects/{pid}", {"Authorization": f"Bearer {t['api_key']}"})
            for t in env.tenants for pid in projects[t["tenant_id"]]]
    base_vars: dict[str, str] = env.extras["env_vars"]
    bouncer = PgBouncer(env.app_url, pool_size=POOL_SIZE).start()
    pooled_vars = {**base_vars, "DRIFT_DATABASE_URL": bouncer.url,
                   "DRIFT_DATABASE_POOLER": "pgbouncer",
                   "DRIFT_DIRECT_DATABASE_URL": env.app_url}
    # direct but with the pooler setting (statement cache off): splits pgbouncer's cost into
    # the cache's and the extra hop's
    nocache_vars = {**base_vars, "DRIFT_DATABASE_POOLER": "pgbouncer",
                    "DRIFT_DIRECT_DATABASE_URL": env.app_url}
    variants = {f"{via}_{n}p": (pooled_vars if via == "pgbouncer" else base_vars, n)
                for n in (1, 2) for via in ("direct", "pgbouncer")}
    variants["direct_nocache_1p"] = (nocache_vars, 1)
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for name, (env_vars, n) in variants.items():
            servers[name] = _serve(env_vars, n)
        conns = env.args.connections
        for _, url in servers.values():  # warm-up
            wrk.run(url, load, duration=2, connections=conns)
        rounds: list[dict[str, Any]] = []
        for _ in range(env.args.rounds):
            one: dict[str, Any] = {}
            for name, (_, url) in servers.items():
                r = wrk.run(url, load, duration=env.args.duration, connections=conns)
                one[name] = {"rps": r.rps, "p50_ms": r.p50_ms, "errors": r.errors}
            rounds.append(one)
    finally:
        for proc, _ in servers.values():
            stop_procs([proc])
        bouncer.stop()
    med = statistics.median
    metrics: dict[str, Any] = {"pgbouncer": version(), "pgbouncer_pool_size": POOL_SIZE}
    for name in variants:
        metrics[f"{name}_rps"] = round(med(r[name]["rps"] for r in rounds), 1)
        metrics[f"{name}_p50_ms"] = round(med(r[name]["p50_ms"] for r in rounds), 2)
    for n in (1, 2):
        metrics[f"pgbouncer_vs_direct_{n}p"] = round(
            med(r[f"pgbouncer_{n}p"]["rps"] / r[f"direct_{n}p"]["rps"] for r in rounds), 3)
    metrics["direct_nocache_vs_direct_1p"] = round(
        med(r["direct_nocache_1p"]["rps"] / r["direct_1p"]["rps"] for r in rounds), 3)
    for via in ("direct", "pgbouncer"):
        metrics[f"{via}_2p_vs_1p"] = round(
            med(r[f"{via}_2p"]["rps"] / r[f"{via}_1p"]["rps"] for r in rounds), 3)
    metrics["errors"] = sum(v["errors"] for r in rounds for v in r.values())
    return ScenarioResult(name="", target="", metrics=metrics, rounds=rounds)
