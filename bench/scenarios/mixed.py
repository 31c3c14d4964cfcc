"""Mixed load: every capability at once, 100 tenants, each with its own credentials, for 5
minutes (BENCH_MIXED_SECONDS), with the webhook worker delivering to a local receiver.

The mix, per 20 requests (one rotation of wrk's generated Lua script holds 20 per tenant, so
2,000 requests, shuffled with a fixed seed so classes and tenants interleave):

| class | share | requests |
|---|---|---|
| project reads | 40% | 6 x GET /api/v1/projects/{id}, 2 x GET /api/v1/projects?limit=.. |
| SCIM reads | 20% | 4 x GET /scim/v2/Users?filter=userName eq "..." (1,000 users per tenant) |
| SCIM writes | 10% | 1 x POST /scim/v2/Users (a new, unique user), 1 x PATCH (title) |
| sync posts | 15% | 3 x POST /api/v1/sync: 3 gates, 10 violations (9 re-synced, 1 new high) |
| audit queries | 15% | 3 x GET /api/v1/audit with filters (action, actor, prefix, time, ...) |

Why these proportions: reads dominate a SaaS API. The Drift client and dashboards read project
state far more often than anything changes it (project reads, 40%). Identity providers check
before they write: Okta and Entra look a user up by `userName eq` before every create or
update and in their periodic reconciliation, so SCIM reads are twice SCIM writes (20% vs 10%),
and writes are half creates, half profile updates (PATCH). Every CI run and IDE scan ends in a
sync (15%): the heaviest write (scan, gates, upserted violations, outbox events with webhook
deliveries, audit event). SIEM pollers and admins query the audit log with filters (15%), and
each query is itself audited (`audit.query`), so it is a write as well. Write-heavy classes
(SCIM writes, syncs, audit queries) are 40% of requests and all contend for their tenant's
audit chain lock, which is what a mixed load should exercise.

Data: 10 projects per tenant (projects_get.seed_projects), 1,000 SCIM users per tenant
(scim_filter.seed_users), a SCIM token per tenant (scim_common.scim_tokens), the audit
scenario's 10M events (audit.seed; BENCH_AUDIT_EVENTS shrinks it). Every 5th tenant (20 of 100)
registers a webhook endpoint for scan.completed, gate.failed and violation.new pointing at
bench/webhook_receiver.py, and a `drift-cloud worker` process (next to the `serve --no-worker`
API processes, as in production with separate workers) delivers them, so sync posts cause real
deliveries during the run. The endpoints are deleted again at the end.

Reported, for the measured run after a warm-up with the same load (BENCH_MIXED_WARMUP, 20 s):
requests/s, p50/p99 and wrk's error count (non-2xx/3xx plus socket errors, including responses
slower than 10 s; no error is expected: every request is valid and every created name and scan
id is unique), responses by status; per class, from the same wrk run (wrk.run(by_tag=True):
each request is timed by its X-Request-ID), requests/s, p50/p99 and any status other than the
class's expected one; rows created (users, scans) versus 201s acknowledged (equal, up to the
requests in flight when wrk stops); audit and outbox events written; webhook deliveries (all
delivered, none failed or pending, no duplicates, event-to-delivery latency); the RSS of the
API process tree (uvicorn supervisor + its workers) and of the worker, sampled every 5 s: before
warm-up, at start (after warm-up), at the end, the delta and the max; the load average at start
and end (the 2-core machine is shared, so numbers are noisy).

BENCH_MIXED_SECONDS=30 BENCH_MIXED_WARMUP=5 BENCH_AUDIT_EVENTS=200000 makes a smoke run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import orjson

from app.core.tx import own_tx
from app.webhooks import service as webhooks
from app.webhooks.schemas import WebhookCreate
from bench import wrk
from bench.run import (
    Env,
    ScenarioResult,
    loopback_runtime,
    receiver_stats,
    rss_mb,
    spawn_worker,
    start_receiver,
    stop_procs,
)
from bench.scenarios import audit, scim_create, scim_filter
from bench.scenarios.projects_get import seed_projects
from bench.scenarios.scim_common import headers as scim_headers
from bench.scenarios.scim_common import scim_tokens
from bench.wrk import UNIQUE, Req

NAME = "mixed"
ORDER = 90
DESCRIPTION = ("SCIM reads/writes, project reads, sync posts, audit queries; 100 tenants, "
               "webhook worker on")
TARGET = "0 errors; flat API RSS (start vs end); p99 reported"

SECONDS = int(os.environ.get("BENCH_MIXED_SECONDS", "300"))
WARMUP = int(os.environ.get("BENCH_MIXED_WARMUP", "20"))
SAMPLE_EVERY = 5.0  # seconds between RSS samples
WRK_TIMEOUT = 10  # seconds; a slower response counts as an error
USERS_PER_TENANT = 1_000
WEBHOOK_EVERY = 5  # every 5th tenant registers an endpoint
WEBHOOK_EVENTS = ["scan.completed", "gate.failed", "violation.new"]
WEBHOOK_DESCRIPTION = "bench-mixed"

# requests per tenant in one rotation, by class (20: the percentages are these x 5)
MIX = {"project_get": 6, "project_list": 2, "scim_filter": 4, "scim_create": 1,
       "scim_patch": 1, "sync": 3, "audit_query": 3}
EXPECTED = {"project_get": 200, "project_list": 200, "scim_filter": 200, "scim_create": 201,
            "scim_patch": 200, "sync": 201, "audit_query": 200}

PATCH_BODY = orjson.dumps({
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [{"op": "replace", "path": "title", "value": f"Engineer {UNIQUE}"}]}).decode()


def _audit_queries() -> list[str]:
    """Filter shapes a SIEM or an admin uses; values that match the seeded events."""
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        "action=project.delete",
        "action=sync.ingest&limit=20",
        "action=user.*",
        f"actor=user3%40bench.example&action={audit.ACTIONS[1]}",
        f"actor={audit.USERS[7]}",
        "resource_type=project&resource_id=res-42",
        "outcome=denied&action=auth.login_failed",
        f"after={since}&limit=100",
        "action=auth.*&order=asc",
    ]


def _sync_body(project_id: str, failing: bool, started: datetime) -> str:
    severities = ["critical", "high", "high", "medium", "medium", "medium", "low", "low", "info"]
    violations = [{"fingerprint": f"fp-{k:02d}", "rule": f"rule-{k % 4}", "severity": sev,
                   "file": f"src/module_{k}/service.py", "line": 10 + k * 7,
                   "message": f"Rule rule-{k % 4} violated in module {k}"}
                  for k, sev in enumerate(severities)]
    violations.append({"fingerprint": f"new-{UNIQUE}", "rule": "rule-new", "severity": "high",
                       "file": "src/new/feature.py", "line": 42, "message": "A new finding"})
    return orjson.dumps({
        "project_id": project_id,
        "scan": {"id": f"mixed-{UNIQUE}", "started_at": started.isoformat(),
                 "completed_at": (started + timedelta(seconds=90)).isoformat(),
                 "files_scanned": 812, "duration_ms": 90_000,
                 "counts": {"critical": 1, "high": 3, "medium": 3, "low": 2, "info": 1}},
        "gate_results": [
            {"gate": "security", "passed": not failing, "score": 0.61 if failing else 0.93,
             "threshold": 0.8},
            {"gate": "coverage", "passed": True, "score": 0.87, "threshold": 0.75},
            {"gate": "grounding", "passed": True, "score": 0.95, "threshold": 0.9}],
        "violations": violations}).decode()


def build_load(tenants: list[dict[str, Any]], projects: dict[str, list[str]],
               tokens: dict[str, str], patch_targets: dict[str, str]) -> list[Req]:
    """wrk's rotation: MIX requests per tenant, each tagged with its class, shuffled."""
    queries = _audit_queries()
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    load: list[Req] = []
    for i, t in enumerate(tenants):
        tid = t["tenant_id"]
        api = {"Authorization": f"Bearer {t['api_key']}"}
        api_json = {**api, "Content-Type": "application/json"}
        pids = projects[tid]
        token = tokens[tid]
        for k in range(MIX["project_get"]):
            load.append(Req("GET", f"/api/v1/projects/{pids[(i + k) % 10]}", api,
                            tag="project_get"))
        for limit in (10, 50)[:MIX["project_list"]]:
            load.append(Req("GET", f"/api/v1/projects?limit={limit}", api, tag="project_list"))
        for k in range(MIX["scim_filter"]):
            name = scim_filter.user_name((i * 37 + k * 251) % USERS_PER_TENANT)
            flt = quote(f'userName eq "{name}"', safe="")
            load.append(Req("GET", f"/scim/v2/Users?filter={flt}", scim_headers(token),
                            tag="scim_filter"))
        load.append(Req("POST", "/scim/v2/Users", scim_headers(token, True), scim_create.BODY,
                        tag="scim_create"))
        load.append(Req("PATCH", f"/scim/v2/Users/{patch_targets[tid]}",
                        scim_headers(token, True), PATCH_BODY, tag="scim_patch"))
        for k in range(MIX["sync"]):
            load.append(Req("POST", "/api/v1/sync", api_json,
                            _sync_body(pids[(i + 3 * k) % 10], k == 0, started), tag="sync"))
        for k in range(MIX["audit_query"]):
            load.append(Req("GET", f"/api/v1/audit?{queries[(i + k * 3) % len(queries)]}", api,
                            tag="audit_query"))
    random.Random(8).shuffle(load)
    return load


# ---- seeding ----

async def _patch_targets(env: Env) -> dict[str, str]:
    """One seeded SCIM user per tenant whose profile the PATCHes update."""
    out = {}
    for i, t in enumerate(env.tenants):
        async with own_tx(env.rt.db, uuid.UUID(t["tenant_id"])) as tx:
            out[t["tenant_id"]] = str(await tx.fetchval(
                "SELECT id FROM users WHERE user_name_key = lower($1)",
                scim_filter.user_name((i * 13) % USERS_PER_TENANT)))
    return out


async def seed(env: Env) -> dict[str, Any]:
    started = time.perf_counter()
    projects = env.extras.get("projects") or await seed_projects(env)
    env.extras["projects"] = projects
    plan = await audit.seed(env)
    added = [await scim_filter.seed_users(env, t["tenant_id"], USERS_PER_TENANT, analyze=False)
             for t in env.tenants]
    if any(added):
        await scim_filter.analyze_users(env)
    tokens = await scim_tokens(env, [t["tenant_id"] for t in env.tenants])
    env.extras["mixed"] = {"projects": projects, "tokens": tokens,
                           "patch_targets": await _patch_targets(env)}
    return {"audit_events_seeded": plan["events_total"],
            "seed_s": round(time.perf_counter() - started, 1)}


# ---- webhooks: receiver, endpoints, worker ----

async def _delete_endpoints(env: Env) -> None:
    for t in env.tenants:
        async with own_tx(env.rt.db, uuid.UUID(t["tenant_id"])) as tx:
            for row in await tx.fetch("SELECT id FROM webhook_endpoints WHERE description = $1",
                                      WEBHOOK_DESCRIPTION):
                await webhooks.delete(tx, row["id"])


async def _register_endpoints(env: Env, receiver: str) -> int:
    rt = loopback_runtime(env)
    n = 0
    for t in env.tenants[::WEBHOOK_EVERY]:
        async with own_tx(rt.db, uuid.UUID(t["tenant_id"])) as tx:
            await webhooks.register(rt, tx, WebhookCreate(
                url=f"{receiver}/hook/{t['slug']}", events=WEBHOOK_EVENTS,
                description=WEBHOOK_DESCRIPTION))
        n += 1
    return n


async def _delivery_counts(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT d.status, count(*) AS n FROM webhook_deliveries d"
        " JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id"
        " WHERE e.description = $1 GROUP BY d.status", WEBHOOK_DESCRIPTION)
    out = {"pending": 0, "delivered": 0, "failed": 0}
    out.update({r["status"]: int(r["n"]) for r in rows})
    return out


async def _drain(conn: asyncpg.Connection, timeout: float) -> tuple[dict[str, int], float]:
    started = time.monotonic()
    counts = await _delivery_counts(conn)
    while counts["pending"] and time.monotonic() - started < timeout:
        await asyncio.sleep(0.5)
        counts = await _delivery_counts(conn)
    return counts, time.monotonic() - started


# ---- measuring ----

async def _db_counts(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM users WHERE user_name LIKE 'new.%@bench.example') AS users,"
        " (SELECT count(*) FROM scans) AS scans,"
        " (SELECT coalesce(sum(last_seq), 0) FROM audit_chain) AS audit_events,"
        " (SELECT count(*) FROM outbox_events) AS outbox_events")
    assert row is not None
    return {k: int(v) for k, v in row.items()}


@dataclass
class Sampler:
    """RSS of the API process tree and of the worker, every SAMPLE_EVERY seconds."""

    api_pid: int
    worker_pid: int
    samples: list[tuple[float, float, float]] = field(default_factory=list)

    def sample(self, t0: float) -> tuple[float, float, float]:
        s = (round(time.monotonic() - t0, 1), round(rss_mb(self.api_pid), 1),
             round(rss_mb(self.worker_pid), 1))
        self.samples.append(s)
        return s

    async def run(self, stop: asyncio.Event, t0: float) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)
            if not stop.is_set():
                self.sample(t0)


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _unexpected(res: wrk.WrkResult) -> dict[str, dict[int, int]]:
    """Responses per class whose status is not the one that class should get."""
    out = {}
    for tag, t in res.tags.items():
        odd = {code: k for code, k in t.statuses.items() if code != EXPECTED.get(tag)}
        if odd:
            out[tag] = odd
    return out


async def run(env: Env) -> ScenarioResult:
    seeded = await seed(env)
    m = env.extras["mixed"]
    load = build_load(env.tenants, m["projects"], m["tokens"], m["patch_targets"])
    conns = env.args.connections
    procs: list[subprocess.Popen[bytes]] = []
    su = await asyncpg.connect(env.superuser_url)
    try:
        await _delete_endpoints(env)  # left over from an interrupted run
        receiver_proc, receiver = start_receiver("bench.webhook_receiver")
        procs.append(receiver_proc)
        endpoints = await _register_endpoints(env, receiver)
        procs.append(spawn_worker(env))
        sampler = Sampler(env.extras["servers"].procs[0].pid, procs[-1].pid)
        t0 = time.monotonic()
        rss_cold = sampler.sample(t0)

        run_wrk = functools.partial(wrk.run, env.api, load, connections=conns, by_tag=True,
                                    timeout=WRK_TIMEOUT)
        warm = await asyncio.to_thread(run_wrk, duration=WARMUP)
        before = await _db_counts(su)
        hooks_warm = receiver_stats(receiver, reset=True)
        load_start = _loadavg()
        rss_start = sampler.sample(t0)
        stop = asyncio.Event()
        sampling = asyncio.create_task(sampler.run(stop, t0))
        try:
            res = await asyncio.to_thread(run_wrk, duration=SECONDS)
        finally:
            stop.set()
            await sampling
        rss_end = sampler.sample(t0)
        load_end = _loadavg()
        after = await _db_counts(su)
        deliveries, drain_s = await _drain(su, timeout=180)
        hooks = receiver_stats(receiver)
    finally:
        stop_procs(procs)
        await su.close()
        await _delete_endpoints(env)

    measured = [s for s in sampler.samples if s[0] >= rss_start[0]]
    tagged = sum(t.requests for t in res.tags.values()) or 1
    metrics: dict[str, Any] = {
        **seeded,
        "seconds": SECONDS, "connections": conns, "tenants": len(env.tenants),
        "mix": ", ".join(f"{c} {MIX[c] / sum(MIX.values()):.0%}" for c in MIX),
        "rps": res.rps, "p50_ms": res.p50_ms, "p99_ms": res.p99_ms,
        "requests": res.requests, "errors": res.errors,
        "statuses": res.statuses,
        "unexpected_statuses": _unexpected(res),
        "warmup_errors": warm.errors,
    }
    for c in MIX:
        t = res.tags.get(c)
        if t is None:
            continue
        metrics[f"{c}_rps_p50_p99"] = (f"{res.rps * t.requests / tagged:.1f} req/s, "
                                       f"p50 {t.p50_ms} ms, p99 {t.p99_ms} ms")
    metrics.update({
        "writes_acknowledged_201": res.statuses.get(201, 0),
        "rows_created_users_scans": (after["users"] - before["users"]
                                     + after["scans"] - before["scans"]),
        "audit_events_written": after["audit_events"] - before["audit_events"],
        "outbox_events_written": after["outbox_events"] - before["outbox_events"],
        "webhook_endpoints": endpoints,
        "webhook_deliveries": deliveries,
        "webhook_received": hooks_warm["count"] + hooks["count"],
        "webhook_duplicates": (hooks_warm["count"] - hooks_warm["unique"]
                               + hooks["count"] - hooks["unique"]),
        # deliveries arriving after the warm-up
        "webhook_event_to_delivery_p50_p99_ms": f"{hooks['p50_ms']} / {hooks['p99_ms']}",
        "webhook_drain_s": round(drain_s, 1),
        "api_rss_cold_mb": rss_cold[1],
        "api_rss_start_mb": rss_start[1],
        "api_rss_end_mb": rss_end[1],
        "api_rss_delta_mb": round(rss_end[1] - rss_start[1], 1),
        "api_rss_max_mb": max(s[1] for s in measured),
        "worker_rss_start_mb": rss_start[2],
        "worker_rss_end_mb": rss_end[2],
        "worker_rss_max_mb": max(s[2] for s in measured),
        "loadavg_start": load_start,
        "loadavg_end": load_end,
    })
    return ScenarioResult(name="", target="", metrics=metrics, rounds=[
        {"warmup": asdict(warm), "service": asdict(res),
         "rss_samples_t_api_worker_mb": sampler.samples}])
