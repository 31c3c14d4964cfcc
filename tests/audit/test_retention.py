"""Retention by plan: the policy API, the daily job, partition drops, and the chain after."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.audit import retention
from app.core import clock
from app.core.runtime import Runtime
from tests.audit.conftest import record_events
from tests.conftest import Tenant, audit_events


async def verify(client: httpx.AsyncClient, t: Tenant) -> dict[str, Any]:
    r = await client.get("/api/v1/audit/verify", headers=t.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def announce_and_run(runtime: Runtime) -> None:
    """Deletion waits until a notice is 7 days old: the job runs 8 days ago (it announces),
    then now (it deletes)."""
    clock.freeze(clock.now() - timedelta(days=8))
    try:
        await retention.run_once(runtime)
    finally:
        clock.reset()
    await retention.run_once(runtime)


@dataclass
class Aged:
    tenant: Tenant
    days: int
    expired: set[uuid.UUID] = field(default_factory=set)
    kept: set[uuid.UUID] = field(default_factory=set)


async def test_policy_per_plan_and_owner_setting(client: httpx.AsyncClient,
                                                 make_tenant: Any) -> None:
    for plan, days in [("free", 30), ("pro", 365), ("team", 730), ("enterprise", 730)]:
        t: Tenant = await make_tenant(plan=plan)
        r = await client.get("/api/v1/settings/audit-retention", headers=t.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["plan"], body["days"], body["default_days"]) == (plan, days, days)
        assert body["configurable"] is (plan == "enterprise") and body["custom_days"] is None
        assert body["oldest_event_at"] is not None and body["retained_through_seq"] == 0
        if plan != "enterprise":
            put = await client.put("/api/v1/settings/audit-retention", headers=t.headers,
                                   json={"days": 400})
            assert put.status_code == 402 and put.json()["code"] == "plan_upgrade_required"

    ent: Tenant = await make_tenant(plan="enterprise")
    admin = await ent.add_user("admin")
    assert (await client.put("/api/v1/settings/audit-retention", headers=admin.headers,
                             json={"days": 400})).status_code == 403
    for bad in (364, 3651, 0):
        r = await client.put("/api/v1/settings/audit-retention", headers=ent.headers,
                             json={"days": bad})
        assert r.status_code == 400 and r.json()["code"] == "retention_out_of_range"
    assert (await client.put("/api/v1/settings/audit-retention", headers=ent.headers,
                             json={"days": "long"})).status_code == 422
    r = await client.put("/api/v1/settings/audit-retention",
                         headers={**ent.headers, "X-Request-ID": "retention-put"},
                         json={"days": 1000})
    assert r.status_code == 200 and (r.json()["days"], r.json()["custom_days"]) == (1000, 1000)
    [event] = await audit_events(ent, request_id="retention-put")
    assert event["action"] == "audit.retention_update"
    assert event["metadata"] == {"from_days": None, "to_days": 1000,
                                 "credential_id": event["metadata"]["credential_id"]}
    assert event["resource_id"] == str(ent.id)
    back = await client.put("/api/v1/settings/audit-retention", headers=ent.headers,
                            json={"days": None})
    assert (back.json()["days"], back.json()["custom_days"]) == (730, None)


async def test_job_deletes_exactly_the_expired_events_of_the_right_tenants(
        client: httpx.AsyncClient, make_tenant: Any, runtime: Runtime) -> None:
    now = clock.now()
    # Tenants and their events are made oldest first, as they would have happened, so each
    # tenant's positions follow time.
    clock.freeze(now - timedelta(days=900))
    groups = [Aged(await make_tenant(plan="free"), 30),
              Aged(await make_tenant(plan="pro"), 365),
              Aged(await make_tenant(plan="team"), 730),
              Aged(await make_tenant(plan="enterprise"), 400),   # custom, set below
              Aged(await make_tenant(plan="enterprise"), 730)]   # default
    for g in groups:
        g.expired |= {r["id"] for r in await audit_events(g.tenant)}  # created 900 days ago
    for age in (800, 500, 420, 380, 300, 45, 29, 1):
        clock.freeze(now - timedelta(days=age, minutes=5))
        for g in groups:
            ids = set(await record_events(g.tenant, 2, action="project.update",
                                          metadata={"age": age}))
            (g.expired if age > g.days else g.kept).update(ids)
    clock.reset()
    r = await client.put("/api/v1/settings/audit-retention", headers=groups[3].tenant.headers,
                         json={"days": 400})
    assert r.status_code == 200
    for g in groups:
        g.kept |= {e["id"] for e in await audit_events(g.tenant)} - g.expired
        assert (await verify(client, g.tenant))["valid"] is True
    before = {g.tenant.id: await audit_events(g.tenant) for g in groups}

    await announce_and_run(runtime)

    for g in groups:
        left = {e["id"] for e in await audit_events(g.tenant)}
        assert not (left & g.expired), f"{g.days}-day tenant kept expired events"
        assert g.kept <= left, f"{g.days}-day tenant lost events it must keep"
        purges = await audit_events(g.tenant, action="audit.retention_purge")
        assert left == g.kept | {p["id"] for p in purges} | {
            e["id"] for e in await audit_events(g.tenant, action="audit.verify")} | {
            e["id"] for e in await audit_events(g.tenant, action="audit.retention_notice")}
        # the chain still verifies, from the stored boundary
        result = await verify(client, g.tenant)
        assert result["valid"] is True, result
        last_deleted = max((e for e in before[g.tenant.id] if e["id"] in g.expired),
                           key=lambda e: e["seq"])
        assert result["boundary"] == {"seq": last_deleted["seq"],
                                      "hash": last_deleted["hash"].hex()}
        assert result["from_seq"] == last_deleted["seq"] + 1
        [purge] = purges
        assert purge["actor_type"] == "system"
        assert purge["metadata"]["deleted"] == len(g.expired)
        assert purge["metadata"]["through_seq"] == last_deleted["seq"]
        policy = (await client.get("/api/v1/settings/audit-retention",
                                   headers=g.tenant.headers)).json()
        assert policy["retained_through_seq"] == last_deleted["seq"]

    # idempotent: a second run finds nothing
    await retention.run_once(runtime)
    for g in groups:
        assert len(await audit_events(g.tenant, action="audit.retention_purge")) == 1


async def test_retention_function_cannot_be_pushed_into_the_future(tenant: Tenant) -> None:
    """The runtime role may call the retention function, but the clock it passes is clamped
    to the database's, so it can never delete an event its policy still keeps."""
    await record_events(tenant, 3)
    before = await audit_events(tenant)
    rows = await tenant.sql(
        "SELECT deleted FROM drift_api.audit_retention_purge($1, now() + interval '50 years',"
        " 1000)", tenant.id)
    assert rows[0]["deleted"] == 0
    assert len(await audit_events(tenant)) == len(before)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await tenant.sql("DELETE FROM audit_events")


async def _partition_exists(t: Tenant, name: str) -> bool:
    [(exists,)] = await t.sql("SELECT to_regclass($1) IS NOT NULL", f"public.{name}")
    return bool(exists)


async def test_whole_expired_partitions_are_dropped_keeping_the_chain(
        client: httpx.AsyncClient, make_tenant: Any, runtime: Runtime) -> None:
    # Months far outside every tenant's window, each in a partition of its own.
    async with runtime.db.pool.acquire() as conn:
        for month in ("2001-03-01", "2001-05-01", "2001-06-01"):
            await conn.fetchval("SELECT drift_api.ensure_audit_partitions($1::date, 0)",
                                datetime.fromisoformat(month).date())
    # P: everything in March 2001, then one event now.
    clock.freeze(datetime.fromisoformat("2001-03-10T10:00:00+00:00"))
    p: Tenant = await make_tenant(plan="enterprise")
    await record_events(p, 5)
    clock.reset()
    now_event = await record_events(p, 1)
    # S: created in June, then an event stamped in May that committed after the June ones.
    clock.freeze(datetime.fromisoformat("2001-06-10T10:00:00+00:00"))
    s: Tenant = await make_tenant(plan="enterprise")
    clock.freeze(datetime.fromisoformat("2001-05-15T10:00:00+00:00"))
    [straggler] = await record_events(s, 1)
    clock.reset()
    p_march = await audit_events(p)
    assert len(p_march) == 8 and await _partition_exists(p, "audit_events_2001_03")

    await announce_and_run(runtime)

    # March went whole; June went whole (S's oldest events); May was not dropped, because S's
    # May event committed after its June events, so dropping May first would have punched a
    # hole in S's chain; the row-by-row purge removed it instead.
    assert not await _partition_exists(p, "audit_events_2001_03")
    assert not await _partition_exists(p, "audit_events_2001_06")
    assert await _partition_exists(p, "audit_events_2001_05")
    left = {e["id"] for e in await audit_events(p, action="project.update")}
    assert left == set(now_event)
    assert straggler not in {e["id"] for e in await audit_events(s)}
    for t in (p, s):
        result = await verify(client, t)
        assert result["valid"] is True, result
    purges = await audit_events(p, action="audit.retention_purge")
    assert [e["metadata"] for e in purges] == [{"partition": "audit_events_2001_03",
                                                "through_seq": 7}]
    assert (await verify(client, p))["boundary"]["seq"] == 7
    # nothing went before it was announced
    [notice] = await audit_events(p, action="audit.retention_notice")
    assert notice["seq"] < purges[0]["seq"]

    await retention.run_once(runtime)  # May is empty now: it goes too
    assert not await _partition_exists(p, "audit_events_2001_05")
