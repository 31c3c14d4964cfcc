"""The IP allowlist's cost on the hot path: GET /api/v1/projects/{id} (the projects_get load)
for tenants whose allowlist has 100 entries (mixed IPv4/IPv6 prefix lengths, one of them
admitting the loopback client) versus tenants with none.

Half of the seeded tenants get the 100 entries, the other half none, so both loads run against
the same server in interleaved rounds (alternating which goes first) with no changes between
them. The entries are removed again at the end, so other scenarios (and later runs reusing
.drift-bench) see tenants without allowlists.

With DRIFT_BENCH_IPALLOW_TRIAL=1 the listed tenants also get the same 100 networks as a
report-only candidate list (a trial in progress, docs/ipallow.md): every request evaluates
both lists. 127.0.0.1 is on both, so the load makes no report writes; this measures the hot
path's evaluation cost.
"""

from __future__ import annotations

import json
import os
import statistics
import urllib.request
from dataclasses import asdict
from typing import Any

from app.core.tx import own_tx
from bench import wrk
from bench.run import Env, ScenarioResult
from bench.scenarios.projects_get import seed_projects
from bench.wrk import Req

NAME = "ipallow_overhead"
ORDER = 20
DESCRIPTION = ("GET /api/v1/projects/{id}: tenants with 100 IP allowlist entries vs none "
               "(same server, interleaved rounds)")
TARGET = "overhead < 5% (requests/s, 100 entries vs none)"

ENTRIES = 100
TRIAL = os.environ.get("DRIFT_BENCH_IPALLOW_TRIAL") == "1"


def allowlist_networks() -> list[str]:
    """100 distinct networks of mixed families and prefix lengths; the last admits 127.0.0.1."""
    nets = [f"198.18.{i}.0/24" for i in range(30)]
    nets += [f"203.0.113.{i}/32" for i in range(30)]
    nets += [f"2001:db8:{i:x}::/48" for i in range(20)]
    nets += [f"100.{64 + i}.0.0/16" for i in range(10)]
    nets += [f"172.{16 + i}.16.0/20" for i in range(9)]
    nets.append("127.0.0.1/32")
    assert len(set(nets)) == ENTRIES
    return nets


async def set_allowlists(env: Env, tenants: list[dict[str, Any]], nets: list[str]) -> None:
    for t in tenants:
        async with own_tx(env.rt.db, t["tenant_id"]) as tx:
            await tx.execute("DELETE FROM ip_allowlist")
            if nets:
                modes = ["enforce", "report_only"] if TRIAL else ["enforce"]
                await tx.executemany(
                    "INSERT INTO ip_allowlist (tenant_id, cidr, description, mode)"
                    " VALUES ($1, $2::cidr, 'bench', $3)",
                    [(tx.tenant_id, n, m) for n in nets for m in modes])


def _listed_total(env: Env, tenant: dict[str, Any]) -> int:
    req = urllib.request.Request(  # noqa: S310 - loopback only
        env.api + "/api/v1/settings/ip-allowlist?limit=1",
        headers={"Authorization": f"Bearer {tenant['api_key']}"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
        return int(json.loads(resp.read())["pagination"]["total"])


def _load(tenants: list[dict[str, Any]], projects: dict[str, list[str]]) -> list[Req]:
    return [Req("GET", f"/api/v1/projects/{pid}", {"Authorization": f"Bearer {t['api_key']}"})
            for t in tenants for pid in projects[t["tenant_id"]]]


async def run(env: Env) -> ScenarioResult:
    projects = env.extras.get("projects") or await seed_projects(env)
    half = len(env.tenants) // 2
    listed, unlisted = env.tenants[:half], env.tenants[half:]
    await set_allowlists(env, listed, allowlist_networks())
    try:
        assert _listed_total(env, listed[0]) == ENTRIES * (2 if TRIAL else 1), \
            "allowlist not in place"
        load_listed, load_none = _load(listed, projects), _load(unlisted, projects)
        args = env.args
        conns = args.connections
        wrk.run(env.api, load_none, duration=2, connections=conns)  # warm-up: pools, caches
        wrk.run(env.api, load_listed, duration=2, connections=conns)
        rounds = []
        for i in range(args.rounds):
            order = [("none", load_none), ("listed", load_listed)]
            if i % 2:
                order.reverse()
            res = {name: wrk.run(env.api, load, duration=args.duration, connections=conns)
                   for name, load in order}
            rounds.append({"none": asdict(res["none"]), "listed": asdict(res["listed"]),
                           "ratio": res["listed"].rps / res["none"].rps})
    finally:
        await set_allowlists(env, listed, [])
    med = statistics.median
    ratio = med(r["ratio"] for r in rounds)
    metrics: dict[str, Any] = {
        f"{stat}_{label}": round(med(r[load][stat] for r in rounds), digits)
        for stat, digits in (("rps", 1), ("p50_ms", 2), ("p99_ms", 2))
        for load, label in (("none", "no_entries"), ("listed", "100_entries"))}
    metrics["overhead_pct"] = round((1 - ratio) * 100, 2)
    metrics["errors"] = sum(r["none"]["errors"] + r["listed"]["errors"] for r in rounds)
    return ScenarioResult(name="", target="", metrics=metrics, rounds=rounds)
