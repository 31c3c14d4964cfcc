"""The query path, decided by numbers: GET a project through asyncpg vs SQLAlchemy's async engine.

The same read as projects_get (one project of one tenant, under RLS, in a transaction that sets
app.tenant_id locally) served by bench/query_path.py in three ways: the service's asyncpg path
(3 round trips), asyncpg with SQLAlchemy's statement shape (4 round trips) and SQLAlchemy 2
Core over the async engine (4 round trips). The service's own GET /api/v1/projects/{id} runs
in the same interleaved rounds for scale. docs/adr/0002-asyncpg-not-sqlalchemy-sessions.md
records the decision these numbers made.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import asdict
from typing import Any
from uuid import UUID

from bench import wrk
from bench.run import Env, ScenarioResult, free_port, spawn_uvicorn, stop_procs, wait_http
from bench.scenarios.projects_get import seed_projects
from bench.wrk import Req

NAME = "query_path"
ORDER = 15
DESCRIPTION = ("GET a project under RLS: asyncpg (service path) vs SQLAlchemy async engine "
               "(Core select), same app, interleaved rounds; the service for scale")
TARGET = "decides the data-access ADR (no pass/fail)"

VARIANTS = ("asyncpg", "asyncpg4", "sqlalchemy")


def start_app(env: Env) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = spawn_uvicorn("bench.query_path:app", port, env.args.workers,
                         {"BENCH_APP_DSN": env.app_url})
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/none")
    return proc, url


CPU_CALLS = 2000


async def client_cpu(env: Env, projects: dict[str, list[str]]) -> dict[str, list[float]]:
    """Client CPU per request of each variant, in this process: the same functions the app
    serves, called one after another (3 rounds of CPU_CALLS, order alternating), divided by
    the calls. Independent of what else the machine runs, unlike requests/s."""
    from bench import query_path

    os.environ["BENCH_APP_DSN"] = env.app_url
    await query_path._startup()
    pairs = [(UUID(t["tenant_id"]), UUID(p)) for t in env.tenants[:20]
             for p in projects[t["tenant_id"]]]
    fns: list[Any] = [query_path.ROUTES[v.encode()] for v in VARIANTS]
    out: dict[str, list[float]] = {v: [] for v in VARIANTS}
    try:
        for rnd in range(3):
            pairs_in_order = list(zip(VARIANTS, fns, strict=True))
            for v, fn in pairs_in_order if rnd % 2 == 0 else reversed(pairs_in_order):
                for i in range(200):  # warm: statement caches
                    await fn(*pairs[i % len(pairs)])
                start = time.process_time()
                for i in range(CPU_CALLS):
                    await fn(*pairs[i % len(pairs)])
                out[v].append((time.process_time() - start) / CPU_CALLS * 1e6)
    finally:
        await query_path._shutdown()
    return out


def _get(url: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback only
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


async def run(env: Env) -> ScenarioResult:
    projects = env.extras.get("projects") or await seed_projects(env)
    loads: dict[str, list[Req]] = {v: [] for v in VARIANTS}
    service_load: list[Req] = []
    for t in env.tenants:
        for pid in projects[t["tenant_id"]]:
            for v in VARIANTS:
                loads[v].append(Req("GET", f"/{v}/{t['tenant_id']}/{pid}"))
            service_load.append(Req("GET", f"/api/v1/projects/{pid}",
                                    {"Authorization": f"Bearer {t['api_key']}"}))
    proc, url = start_app(env)
    try:
        # Every variant must read the same row, and RLS must hide another tenant's project.
        t0, t1 = env.tenants[0], env.tenants[1]
        pid = projects[t0["tenant_id"]][0]
        bodies = set()
        for v in VARIANTS:
            status, body = _get(f"{url}/{v}/{t0['tenant_id']}/{pid}")
            assert status == 200, (v, status)
            bodies.add(body)
            status, _ = _get(f"{url}/{v}/{t1['tenant_id']}/{pid}")
            assert status == 404, f"{v}: RLS did not hide another tenant's project ({status})"
        assert len(bodies) == 1, bodies

        conns = env.args.connections
        targets = {v: (url, loads[v]) for v in VARIANTS}
        targets["service"] = (env.api, service_load)
        for base, load in targets.values():  # warm-up: pools, statement caches
            wrk.run(base, load, duration=2, connections=conns)
        rounds = []
        order = list(targets)
        for i in range(env.args.rounds):
            names = order[i % len(order):] + order[:i % len(order)]  # rotate who goes first
            res = {n: wrk.run(targets[n][0], targets[n][1], duration=env.args.duration,
                              connections=conns) for n in names}
            rounds.append({n: asdict(r) for n, r in res.items()}
                          | {"ratio": res["sqlalchemy"].rps / res["asyncpg"].rps,
                             "ratio_same_shape": res["sqlalchemy"].rps / res["asyncpg4"].rps})
    finally:
        stop_procs([proc])
    med = statistics.median
    metrics: dict[str, object] = {}
    for n in targets:
        metrics[f"{n}_rps"] = round(med(r[n]["rps"] for r in rounds), 1)
        metrics[f"{n}_p50_ms"] = round(med(r[n]["p50_ms"] for r in rounds), 2)
        metrics[f"{n}_p99_ms"] = round(med(r[n]["p99_ms"] for r in rounds), 2)
    metrics["sqlalchemy_vs_asyncpg"] = round(med(r["ratio"] for r in rounds), 3)
    metrics["sqlalchemy_vs_asyncpg_same_shape"] = round(
        med(r["ratio_same_shape"] for r in rounds), 3)
    # Extra time per request at saturation (both processes busy), in microseconds.
    extra_us = med(1e6 / r["sqlalchemy"]["rps"] - 1e6 / r["asyncpg"]["rps"] for r in rounds)
    metrics["sqlalchemy_extra_us_per_request"] = round(extra_us, 1)
    # What the service would serve with that extra time per request.
    service_rps = float(metrics["service_rps"])  # type: ignore[arg-type]
    metrics["service_rps_projected_with_sqlalchemy"] = round(
        1e6 / (1e6 / service_rps + extra_us), 1)
    metrics["errors"] = sum(r[n]["errors"] for r in rounds for n in targets)
    cpu = await client_cpu(env, projects)
    for v in VARIANTS:
        metrics[f"{v}_client_cpu_us"] = round(med(cpu[v]), 1)
    rounds.append({"client_cpu_us": cpu})
    return ScenarioResult(name="", target="", metrics=metrics, rounds=rounds)
