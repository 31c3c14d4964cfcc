"""Audit log at scale: 10M events across 100 tenants, 1M of them in the measured tenant.

- filtered page queries (GET /api/v1/audit with several filter shapes) over HTTP with wrk:
  p50/p99, against the raw asyncpg baseline's "audit_page" query;
- NDJSON export of the measured tenant's whole log: events/s, time to first byte and the API
  processes' peak RSS growth, against `COPY (SELECT row_to_json(e) ...) TO STDOUT` of the same
  rows in the same run;
- the cost of the hash chain on writes: record() + COMMIT per event, 16 concurrent writers on
  one tenant (serialised by its chain lock) vs spread over 16 tenants, and one writer's
  latency with and without the chain trigger.

Seeding (as the superuser, INSERT ... SELECT generate_series, chain trigger off) is idempotent
and incremental: .drift-bench/audit-seed.json records what each tenant got, so reruns add only
what is missing. Seeded rows carry placeholder hashes (the bench never verifies the chain).
BENCH_AUDIT_EVENTS=200000 shrinks the data set for a smoke run.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from typing import Any

import asyncpg

from app.core.audit_record import record
from app.core.context import Actor, RequestContext
from app.core.tx import own_tx
from bench.run import DATA, Env, ScenarioResult, http_compare, rss_mb
from bench.wrk import Req

NAME = "audit"
ORDER = 40
DESCRIPTION = "audit log: filtered page query, NDJSON export, chain write cost"
TARGET = "query p99 < 100 ms; export events/s >= 0.5 x COPY row_to_json"

SEED_FILE = DATA / "audit-seed.json"
LATENCY_CONNECTIONS = 4  # concurrent queries for the latency figures (the p99 target)
SEED_BATCH = 250_000
SPAN_DAYS = 90
ACTIONS = ["project.create", "project.update", "project.delete", "apikey.create",
           "apikey.revoke", "auth.login", "auth.logout", "auth.login_failed", "team.update",
           "scim.user_update"]
USERS = [uuid.uuid5(uuid.NAMESPACE_URL, f"https://bench.drift/user/{k}") for k in range(20)]

_SEED_SQL = """
INSERT INTO audit_events (tenant_id, id, created_at, actor_type, actor_id, actor_email, action,
                          resource_type, resource_id, outcome, ip, user_agent, request_id,
                          metadata, seq, prev_hash, hash)
SELECT $1::uuid, gen_random_uuid(),
       now() - make_interval(days => $5) + (g::float8 / $4) * make_interval(days => $5),
       CASE WHEN g % 4 = 0 THEN 'system' WHEN g % 4 = 1 THEN 'api_key' ELSE 'user' END,
       CASE WHEN g % 4 = 0 THEN NULL ELSE ($6::uuid[])[1 + g % 20] END,
       CASE WHEN g % 4 = 0 THEN NULL ELSE 'user' || (g % 20) || '@bench.example' END,
       a.action, split_part(a.action, '.', 1), 'res-' || (g % 5000),
       CASE WHEN g % 50 = 0 THEN 'denied' WHEN g % 20 = 0 THEN 'failure' ELSE 'success' END,
       ('10.1.' || (g % 250) || '.' || (g % 200))::inet, 'bench/1.0', 'bench-seed',
       jsonb_build_object('n', g, 'name', 'project-' || (g % 1000), 'source', 'bench'),
       $7::bigint + g, decode(repeat('00', 32), 'hex'), sha256(int8send(g))
  FROM generate_series($2::bigint, $3::bigint) g
  CROSS JOIN LATERAL (SELECT ($8::text[])[1 + (g * 7 + g / 10) % 10] AS action) a
"""


async def _superuser(env: Env) -> asyncpg.Connection:
    return await asyncpg.connect(env.superuser_url)


async def seed(env: Env) -> dict[str, Any]:
    """Make sure every tenant has its share of events; returns the plan."""
    total = int(os.environ.get("BENCH_AUDIT_EVENTS", "10000000"))
    measured = env.tenants[0]["tenant_id"]
    others = [t["tenant_id"] for t in env.tenants[1:]]
    wanted = {measured: total // 10}
    for tid in others:
        wanted[tid] = (total - total // 10) // max(1, len(others))
    done: dict[str, int] = json.loads(SEED_FILE.read_text()) if SEED_FILE.exists() else {}
    conn = await _superuser(env)
    seeded = 0
    started = time.perf_counter()
    try:
        await conn.execute("SET session_replication_role = replica")  # no chain trigger
        await conn.execute("SELECT drift_api.ensure_audit_partitions("
                           f"current_date - {SPAN_DAYS + 31}, 6)")
        for tid, want in wanted.items():
            have = done.get(tid, 0)
            if have >= want:
                continue
            for lo in range(have + 1, want + 1, SEED_BATCH):
                hi = min(want, lo + SEED_BATCH - 1)
                async with conn.transaction():
                    head = await conn.fetchval(
                        "SELECT last_seq FROM audit_chain WHERE tenant_id = $1 FOR UPDATE",
                        tid) or 0
                    await conn.execute(_SEED_SQL, tid, lo, hi, want, SPAN_DAYS, USERS,
                                       head - lo + 1, ACTIONS)
                    await conn.execute(
                        "INSERT INTO audit_chain AS c (tenant_id, last_seq, last_hash)"
                        " VALUES ($1, $2, sha256(int8send($2)))"
                        " ON CONFLICT (tenant_id) DO UPDATE SET last_seq = EXCLUDED.last_seq,"
                        " prev_hash = c.last_hash, last_hash = EXCLUDED.last_hash",
                        tid, head + hi - lo + 1)
                seeded += hi - lo + 1
                done[tid] = hi
                SEED_FILE.write_text(json.dumps(done))
                print(f"   seeded {sum(done.values()):,} audit events", flush=True)
        if seeded:
            await conn.execute("RESET session_replication_role")
            await conn.execute("VACUUM (ANALYZE) audit_events")
    finally:
        await conn.close()
    return {"events_total": sum(min(done.get(t, 0), w) for t, w in wanted.items()),
            "events_measured_tenant": wanted[measured], "seeded_now": seeded,
            "seed_seconds": round(time.perf_counter() - started, 1)}


def _query_loads(env: Env) -> tuple[list[Req], list[Req]]:
    t = env.tenants[0]
    auth = {"Authorization": f"Bearer {t['api_key']}"}
    shapes = [
        "action=project.delete",
        f"actor=user3%40bench.example&action={ACTIONS[1]}",
        f"actor={USERS[7]}",
        "action=auth.*&limit=100",
        "resource_type=project&resource_id=res-42",
        "outcome=denied&action=auth.login_failed",
        "actor=user5%40bench.example&order=asc",
        "action=delete",  # a bare verb (docs/audit.md, "Filters")
        "action=update&order=asc",  # project.update and team.update
    ]
    app = [Req("GET", f"/api/v1/audit?{q}", auth) for q in shapes]
    base = [Req("GET", f"/q/audit_page/{t['tenant_id']}/{a}") for a in ACTIONS]
    return app, base


async def _copy_rate(env: Env, tenant_id: str) -> dict[str, float]:
    conn = await _superuser(env)
    lines = 0

    async def sink(chunk: bytes) -> None:
        nonlocal lines
        lines += chunk.count(b"\n")

    try:
        started = time.perf_counter()
        await conn.copy_from_query(
            "SELECT row_to_json(e) FROM audit_events e WHERE tenant_id = $1 ORDER BY seq",
            uuid.UUID(tenant_id), output=sink)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {"events": lines, "seconds": seconds, "events_per_s": lines / seconds}


async def _export_rate(env: Env, tenant: dict[str, Any]) -> dict[str, float]:
    pid = env.extras["servers"].procs[0].pid
    rss_before = rss_mb(pid)
    peak = rss_before
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    first: float | None = None
    lines = 0
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "--fail", "-N", "-H", f"Authorization: Bearer {tenant['api_key']}",
        f"{env.api}/api/v1/audit/export", stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    while chunk := await proc.stdout.read(1 << 20):
        if first is None:
            first = time.perf_counter() - started
        lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    code = await proc.wait()
    stop.set()
    await sampler
    if code != 0:
        raise RuntimeError(f"export failed (curl exit {code})")
    return {"events": lines, "seconds": seconds, "events_per_s": lines / seconds,
            "ttfb_ms": (first or 0.0) * 1000, "rss_before_mb": rss_before,
            "rss_growth_mb": peak - rss_before}


async def _export_compare(env: Env) -> dict[str, Any]:
    tenant = env.tenants[0]
    await _export_rate(env, tenant)  # warm-up (page cache, connections)
    rounds = []
    for _ in range(env.args.rounds):
        copy = await _copy_rate(env, tenant["tenant_id"])
        exp = await _export_rate(env, tenant)
        rounds.append({"copy": copy, "export": exp,
                       "ratio": exp["events_per_s"] / copy["events_per_s"]})
    med = statistics.median
    return {
        "export_events": int(med(r["export"]["events"] for r in rounds)),
        "export_events_per_s": round(med(r["export"]["events_per_s"] for r in rounds)),
        "export_ttfb_ms": round(med(r["export"]["ttfb_ms"] for r in rounds), 1),
        "export_peak_rss_growth_mb": round(max(r["export"]["rss_growth_mb"] for r in rounds), 1),
        "api_rss_before_mb": round(rounds[0]["export"]["rss_before_mb"], 1),
        "copy_events_per_s": round(med(r["copy"]["events_per_s"] for r in rounds)),
        "export_vs_copy_ratio": round(med(r["ratio"] for r in rounds), 3),
    }


async def _write_rates(env: Env, per_writer: int = 60, writers: int = 16) -> dict[str, Any]:
    """Events/s of record() + COMMIT (one transaction per event)."""
    db = env.rt.db
    ctx = RequestContext(actor=Actor.system(), request_id="bench-write")

    async def writer(tenant_id: str, n: int, latencies: list[float]) -> None:
        for _ in range(n):
            t0 = time.perf_counter()
            async with own_tx(db, uuid.UUID(tenant_id), ctx) as tx:
                await record(tx, "project.update", metadata={"bench": "write"})
            latencies.append(time.perf_counter() - t0)

    async def rate(tenants: list[str]) -> float:
        lat: list[float] = []
        started = time.perf_counter()
        await asyncio.gather(*[writer(tenants[i % len(tenants)], per_writer, lat)
                               for i in range(writers)])
        return writers * per_writer / (time.perf_counter() - started)

    one = await rate([env.tenants[1]["tenant_id"]])
    spread = await rate([t["tenant_id"] for t in env.tenants[1:1 + writers]])
    single: list[float] = []
    await writer(env.tenants[2]["tenant_id"], 200, single)
    # the same insert without the chain trigger (superuser, trigger off), in a tenant that
    # does not exist, removed again afterwards
    conn = await _superuser(env)
    scratch = uuid.uuid4()
    plain: list[float] = []
    try:
        await conn.execute("SET session_replication_role = replica")
        for i in range(200):
            t0 = time.perf_counter()
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO audit_events (tenant_id, id, created_at, actor_type, action,"
                    " resource_type, outcome, metadata, seq, prev_hash, hash) VALUES ($1,"
                    " gen_random_uuid(), now(), 'system', 'project.update', 'project',"
                    " 'success', '{}', $2, '\\x00', '\\x00')", scratch, i + 1)
            plain.append(time.perf_counter() - t0)
        await conn.execute("DELETE FROM audit_events WHERE tenant_id = $1", scratch)
    finally:
        await conn.close()
    med = statistics.median
    return {"write_events_per_s_one_tenant_16_writers": round(one),
            "write_events_per_s_16_tenants_16_writers": round(spread),
            "write_latency_ms_chained": round(med(single) * 1000, 2),
            "write_latency_ms_unchained": round(med(plain) * 1000, 2)}


async def run(env: Env) -> ScenarioResult:
    plan = await seed(env)
    app_load, base_load = _query_loads(env)
    # latency: a few admins and SIEM pollers at once (the p99 target); then saturation
    latency = http_compare(env, app_load, base_load, connections=LATENCY_CONNECTIONS)
    result = http_compare(env, app_load, base_load)
    metrics = {**plan, **{f"query_{k}": v for k, v in latency.metrics.items()},
               **{f"saturated_query_{k}": v for k, v in result.metrics.items()}}
    metrics.update(await _export_compare(env))
    metrics.update(await _write_rates(env))
    return ScenarioResult(name="", target="", metrics=metrics,
                          rounds=latency.rounds + result.rounds)
