"""POST /scim/v2/Users in one tenant, as an identity provider provisioning people: each request
creates a user (insert, audit event and outbox event in one transaction). Reports users/s."""

from __future__ import annotations

import statistics
import uuid
from dataclasses import asdict

import orjson

from app.core.tx import own_tx
from bench import wrk
from bench.run import Env, ScenarioResult, Servers, cpu_seconds, per_request, postmaster_pid
from bench.scenarios.scim_common import headers, scim_tokens
from bench.wrk import UNIQUE, Req

NAME = "scim_create"
ORDER = 31
DESCRIPTION = "POST /scim/v2/Users (user + audit + outbox rows), one tenant"
TARGET = ">= 500 users/s"

BODY = orjson.dumps({
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": f"new.{UNIQUE}@bench.example", "externalId": f"ext-{UNIQUE}",
    "name": {"givenName": "New", "familyName": UNIQUE},
    "emails": [{"value": f"new.{UNIQUE}@bench.example", "type": "work", "primary": True}],
    "displayName": f"New {UNIQUE}", "active": True}).decode()


async def _count(env: Env, tenant_id: str) -> tuple[int, int, int]:
    async with own_tx(env.rt.db, uuid.UUID(tenant_id)) as tx:
        row = await tx.fetchrow(
            "SELECT (SELECT count(*) FROM users) AS u,"
            " (SELECT count(*) FROM audit_events WHERE action = 'user.provisioned') AS a,"
            " (SELECT count(*) FROM outbox_events WHERE type = 'user.provisioned') AS o")
        assert row is not None
        return int(row["u"]), int(row["a"]), int(row["o"])


async def run(env: Env) -> ScenarioResult:
    tenant_id = env.tenants[-1]["tenant_id"]
    token = (await scim_tokens(env, [tenant_id]))[tenant_id]
    load = [Req("POST", "/scim/v2/Users", headers(token, body=True), BODY)]
    args = env.args
    wrk.run(env.api, load, duration=2, connections=args.connections)  # warm-up
    before = await _count(env, tenant_id)
    servers: Servers = env.extras["servers"]
    rounds = []
    for _ in range(args.rounds):
        api0, pg0 = cpu_seconds(servers.procs[0].pid), cpu_seconds(postmaster_pid())
        result = wrk.run(env.api, load, duration=args.duration, connections=args.connections)
        api1, pg1 = cpu_seconds(servers.procs[0].pid), cpu_seconds(postmaster_pid())
        rounds.append({**asdict(result), "cpu_us_per_request": {
            "service_app": per_request(api1 - api0, result),
            "service_postgres": per_request(pg1 - pg0, result)}})
    after = await _count(env, tenant_id)
    created = after[0] - before[0]
    med = statistics.median
    return ScenarioResult(name="", target="", metrics={
        "users_per_s": round(med(r["rps"] for r in rounds), 1),
        "p50_ms": round(med(r["p50_ms"] for r in rounds), 2),
        "p99_ms": round(med(r["p99_ms"] for r in rounds), 2),
        "errors": sum(r["errors"] for r in rounds),
        "users_created": created,
        "audit_events_written": after[1] - before[1],
        "outbox_events_written": after[2] - before[2],
        "cpu_us_per_req_service_app": round(med(r["cpu_us_per_request"]["service_app"]
                                                for r in rounds), 1),
        "cpu_us_per_req_service_postgres": round(
            med(r["cpu_us_per_request"]["service_postgres"] for r in rounds), 1),
    }, rounds=[{"service": r} for r in rounds])
