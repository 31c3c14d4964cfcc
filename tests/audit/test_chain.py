"""The hash chain: what the trigger assigns, /verify, and tampering it must detect."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.core import clock
from app.core.context import RequestContext
from app.core.db import connect
from app.core.tx import own_tx
from tests.audit.conftest import record_events
from tests.conftest import DbInfo, Tenant, audit_events

ZERO = bytes(32)


async def verify(client: httpx.AsyncClient, t: Tenant, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/audit/verify", headers=t.headers,
                         params={k: v for k, v in params.items() if v is not None})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@asynccontextmanager
async def owner_tampering(test_db: DbInfo, t: Tenant) -> AsyncIterator[asyncpg.Connection]:
    """The schema owner, tenant set, with the immutability trigger disabled (and re-enabled
    whatever happens): what an attacker holding the owner's credentials could do."""
    conn = await connect(test_db.owner_url)
    try:
        await conn.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_immutable")
        await conn.execute("BEGIN")
        await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(t.id))
        yield conn
        await conn.execute("COMMIT")
    finally:
        if conn.is_in_transaction():
            await conn.execute("ROLLBACK")
        await conn.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_immutable")
        await conn.close()


async def test_trigger_numbers_and_links_every_event(tenant: Tenant) -> None:
    await record_events(tenant, 10)
    rows = await tenant.sql(
        "SELECT seq, prev_hash, hash, drift_api.audit_canonical(tenant_id, seq, id, created_at,"
        " actor_type, actor_id, actor_email, action, resource_type, resource_id, outcome, ip,"
        " user_agent, request_id, metadata) AS c FROM audit_events ORDER BY seq")
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    prev = ZERO
    for r in rows:
        assert r["prev_hash"] == prev
        assert r["hash"] == hashlib.sha256(prev + r["c"]).digest()
        prev = r["hash"]
    [head] = await tenant.sql("SELECT last_seq, last_hash FROM audit_chain")
    assert (head["last_seq"], head["last_hash"]) == (len(rows), prev)


async def test_runtime_role_cannot_forge_chain_columns(tenant: Tenant) -> None:
    [(n,)] = await tenant.sql("SELECT last_seq FROM audit_chain")
    await tenant.sql(
        "INSERT INTO audit_events (tenant_id, actor_type, action, resource_type, outcome,"
        " seq, prev_hash, hash) VALUES ($1, 'system', 'project.create', 'project', 'success',"
        " 999, '\\x00', '\\x00')", tenant.id)
    [row] = await tenant.sql("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    assert row["seq"] == n + 1 and len(row["hash"]) == 32


async def test_concurrent_writers_keep_one_dense_valid_chain(client: httpx.AsyncClient,
                                                             tenant: Tenant) -> None:
    await asyncio.gather(*[record_events(tenant, 5) for _ in range(16)])
    seqs = [r["seq"] for r in await tenant.sql("SELECT seq FROM audit_events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 82
    result = await verify(client, tenant)
    assert result["valid"] is True and result["first_break"] is None
    assert result["checked"] == len(seqs) and result["to_seq"] == len(seqs)


async def test_rolled_back_events_leave_no_gap(runtime: Any, tenant: Tenant,
                                               client: httpx.AsyncClient) -> None:
    from app.core.audit_record import record

    async def record_then_fail() -> None:
        async with own_tx(runtime.db, tenant.id, RequestContext()) as tx:
            await record(tx, "project.create")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await record_then_fail()
    await record_events(tenant, 2)
    seqs = [r["seq"] for r in await tenant.sql("SELECT seq FROM audit_events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))
    assert (await verify(client, tenant))["valid"] is True


async def test_verify_over_a_time_range(client: httpx.AsyncClient, tenant: Tenant) -> None:
    start = clock.now()
    clock.freeze(start + timedelta(minutes=1))
    mid = await record_events(tenant, 5)
    clock.freeze(start + timedelta(minutes=2))
    await record_events(tenant, 5)
    clock.reset()
    result = await verify(client, tenant, after=(start + timedelta(minutes=1)).isoformat(),
                          before=(start + timedelta(minutes=2)).isoformat())
    assert result["valid"] is True and result["checked"] == 5
    seqs = {r["id"]: r["seq"] for r in await audit_events(tenant)}
    assert result["from_seq"] == seqs[mid[0]] and result["to_seq"] == seqs[mid[-1]]
    empty = await verify(client, tenant, before=(start - timedelta(days=1)).isoformat())
    assert empty == {**empty, "valid": True, "checked": 0, "from_seq": None}
    # verification is itself audited
    [event] = [e for e in await audit_events(tenant, action="audit.verify")][:1]
    assert event["metadata"]["checked"] == 5 and event["metadata"]["valid"] is True


async def test_tampered_content_is_detected(client: httpx.AsyncClient, tenant: Tenant,
                                            test_db: DbInfo) -> None:
    ids = await record_events(tenant, 10, action="project.delete")
    assert (await verify(client, tenant))["valid"] is True
    victim = ids[4]
    async with owner_tampering(test_db, tenant) as conn:
        await conn.execute("UPDATE audit_events SET action = 'project.create',"
                           " metadata = '{\"i\": 4, \"note\": \"nothing to see\"}'"
                           " WHERE id = $1", victim)
    result = await verify(client, tenant)
    assert result["valid"] is False
    brk = result["first_break"]
    assert brk["reason"] == "hash_mismatch" and brk["id"] == str(victim)
    [row] = await audit_events(tenant, id=victim)
    assert brk["seq"] == row["seq"] and brk["actual"] == row["hash"].hex()
    assert result["checked"] == row["seq"] - 1  # everything before it checked out
    # a range that ends before the tampered event still verifies
    assert (await verify(client, tenant, before=row["created_at"].isoformat()))["valid"]


async def test_tampering_that_rehashes_the_row_breaks_the_link(
        client: httpx.AsyncClient, tenant: Tenant, test_db: DbInfo) -> None:
    ids = await record_events(tenant, 6)
    victim = ids[2]
    async with owner_tampering(test_db, tenant) as conn:
        # recompute the victim's own hash so the row is self-consistent
        await conn.execute(
            "UPDATE audit_events SET outcome = 'failure', hash = sha256(prev_hash ||"
            " drift_api.audit_canonical(tenant_id, seq, id, created_at, actor_type, actor_id,"
            " actor_email, action, resource_type, resource_id, 'failure', ip, user_agent,"
            " request_id, metadata)) WHERE id = $1", victim)
    brk = (await verify(client, tenant))["first_break"]
    [row] = await audit_events(tenant, id=victim)
    assert brk["reason"] == "chain_broken" and brk["seq"] == row["seq"] + 1


async def test_rehashed_newest_event_is_caught_by_the_head(
        client: httpx.AsyncClient, tenant: Tenant, test_db: DbInfo) -> None:
    await record_events(tenant, 3)
    newest = (await audit_events(tenant))[-1]
    async with owner_tampering(test_db, tenant) as conn:
        await conn.execute(
            "UPDATE audit_events SET actor_email = 'someone@else.example', hash ="
            " sha256(prev_hash || drift_api.audit_canonical(tenant_id, seq, id, created_at,"
            " actor_type, actor_id, 'someone@else.example', action, resource_type,"
            " resource_id, outcome, ip, user_agent, request_id, metadata)) WHERE id = $1",
            newest["id"])
    brk = (await verify(client, tenant))["first_break"]
    assert brk["reason"] == "head_mismatch" and brk["seq"] == newest["seq"]


@pytest.mark.parametrize(("which", "reason"), [("middle", "missing_events"),
                                              ("newest", "missing_events"),
                                              ("oldest", "missing_events")])
async def test_removed_events_are_detected(client: httpx.AsyncClient, tenant: Tenant,
                                           test_db: DbInfo, which: str, reason: str) -> None:
    await record_events(tenant, 5)
    rows = await audit_events(tenant)
    victim = {"middle": rows[3], "newest": rows[-1], "oldest": rows[0]}[which]
    async with owner_tampering(test_db, tenant) as conn:
        await conn.execute("DELETE FROM audit_events WHERE id = $1", victim["id"])
    result = await verify(client, tenant)
    assert result["valid"] is False and result["first_break"]["reason"] == reason
    assert result["first_break"]["seq"] == victim["seq"]
