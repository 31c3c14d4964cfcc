"""One-flight reads: a read-only request costs one database round trip, and that round trip
still re-verifies the credential (revocation, deactivation, role change apply to the very next
request). Round trips are counted with asyncpg's query logger on the request's connection."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.ipallow.cache import cache_for
from tests.conftest import Tenant, bearer


async def _allowlist_cached(client: httpx.AsyncClient, t: Tenant, path: str) -> None:
    """Read until this process's IP allowlist cache holds the tenant's (empty) list, so the
    request's own round trips can be counted alone."""
    cache = cache_for(t.rt.db)
    for _ in range(50):
        assert (await client.get(path, headers=t.headers)).status_code == 200
        if t.id in cache.entries:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the allowlist cache never stored the tenant")


async def _project(client: httpx.AsyncClient, t: Tenant) -> str:
    r = await client.post("/api/v1/projects", headers=t.headers, json={"name": "one flight"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_read_is_one_round_trip_that_enters_the_tenant(
        client: httpx.AsyncClient, tenant: Tenant, round_trips: list[str]) -> None:
    pid = await _project(client, tenant)
    await _allowlist_cached(client, tenant, f"/api/v1/projects/{pid}")
    round_trips.clear()
    r = await client.get(f"/api/v1/projects/{pid}", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["id"] == pid
    assert len(round_trips) == 1, round_trips
    assert "drift_api.enter_api_key(" in round_trips[0]
    assert round_trips[0].endswith(", true)")  # the gate's p_read_only
    assert "BEGIN" not in round_trips[0] and "COMMIT" not in round_trips[0]


async def test_a_write_opens_its_transaction_with_the_credential_check(
        client: httpx.AsyncClient, tenant: Tenant, round_trips: list[str]) -> None:
    await _allowlist_cached(client, tenant, "/api/v1/projects")
    round_trips.clear()
    await _project(client, tenant)
    # BEGIN + the credential check; the INSERT; the outbox row, the audit event and COMMIT
    assert len(round_trips) == 3, round_trips
    assert round_trips[0].startswith("BEGIN; SELECT drift_api.enter_api_key(")
    assert round_trips[1].startswith("INSERT INTO projects")
    last = round_trips[2]
    assert "SELECT public.emit_events(" in last and "INSERT INTO audit_events" in last
    assert last.endswith("; COMMIT")
    assert not any(q.endswith(", true)") for q in round_trips)  # no read-only gate


async def test_a_revoked_key_is_refused_on_the_very_next_read(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    member = await tenant.add_user("member")
    pid = await _project(client, tenant)
    assert (await client.get("/api/v1/me", headers=member.headers)).status_code == 200
    keys = (await client.get("/api/v1/api-keys", headers=member.headers)).json()["data"]
    assert (await client.delete(f"/api/v1/api-keys/{keys[0]['id']}",
                                headers=member.headers)).status_code == 204
    for path in ("/api/v1/me", f"/api/v1/projects/{pid}", "/api/v1/projects"):
        r = await client.get(path, headers=member.headers)
        assert r.status_code == 401 and r.json()["code"] == "credential_revoked", path


async def test_a_deactivated_user_is_refused_on_the_very_next_read(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    member = await tenant.add_user("member")
    assert (await client.get("/api/v1/projects", headers=member.headers)).status_code == 200
    await tenant.sql("UPDATE users SET active = false WHERE id = $1", member.id)
    r = await client.get("/api/v1/projects", headers=member.headers)
    assert r.status_code == 401 and r.json()["code"] == "credential_inactive"


async def test_a_demoted_admin_is_refused_on_the_very_next_admin_read(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    """The principal cache still says admin; the read's own round trip finds the role
    changed, and the request is answered for the role the database holds now."""
    admin = await tenant.add_user("admin")
    assert (await client.get("/api/v1/webhooks", headers=admin.headers)).status_code == 200
    await tenant.sql("UPDATE users SET role = 'member' WHERE id = $1", admin.id)
    r = await client.get("/api/v1/webhooks", headers=admin.headers)
    assert r.status_code == 403 and r.json()["code"] == "insufficient_role"
    me = await client.get("/api/v1/me", headers=admin.headers)
    assert me.status_code == 200 and me.json()["user"]["role"] == "member"


async def test_an_ended_session_is_refused_on_the_very_next_read(
        client: httpx.AsyncClient, make_tenant: Any) -> None:
    t: Tenant = await make_tenant(owner_password="correct horse battery staple")
    login = await client.post("/api/v1/auth/login", json={
        "tenant": t.slug, "email": t.owner.email, "password": "correct horse battery staple"})
    access = login.json()["access_token"]
    assert (await client.get("/api/v1/projects", headers=bearer(access))).status_code == 200
    await t.sql("UPDATE sessions SET revoked_at = now()")
    r = await client.get("/api/v1/projects", headers=bearer(access))
    assert r.status_code == 401 and r.json()["code"] == "session_revoked"


async def test_a_read_cannot_write(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """The gate makes the statement's transaction read-only once it has entered, and leaves
    nothing set on the connection."""
    import asyncpg

    from app.core.access import enter_for, lookup_principal
    from app.core.context import RequestContext
    from app.core.tx import gated

    await _project(client, tenant)
    principal, _ = await lookup_principal(tenant.rt, RequestContext(), tenant.owner.api_key)
    enter = enter_for(principal)
    sql = "SELECT count(*) FROM projects"
    async with tenant.rt.db.pool.acquire() as conn:
        assert await conn.fetchval(gated(sql, enter.gate, 0, len(enter.args)),
                                   *enter.args) == 1
        # a function that writes (it records last use when the last one is older than a
        # minute), called after the gate, is refused
        now = enter.args[4]
        later = now + timedelta(days=1)
        with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
            await conn.fetchval(gated(
                "SELECT drift_api.enter_api_key($1, $2, $3, $4, $5, NULL)::text",
                enter.gate, 5, len(enter.args)), *enter.args[:4], later, *enter.args)
        # nothing outlives the statement: no tenant is set on the connection afterwards
        assert await conn.fetchval("SELECT count(*) FROM projects") == 0


async def test_a_read_keeps_the_last_use_bookkeeping(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    """The gate is STABLE, yet a read still stamps the key's last use and its user's last
    activity (through drift_private.touch_last_use, at most once a minute): an admin sees when a
    key was last used even if it only ever reads."""
    member = await tenant.add_user("member")
    await tenant.sql("UPDATE api_keys SET last_used_at = NULL")
    await tenant.sql("UPDATE users SET last_active_at = NULL WHERE id = $1", member.id)
    r = await client.get("/api/v1/projects", headers=member.headers)
    assert r.status_code == 200
    [key] = await tenant.sql("SELECT k.last_used_at, u.last_active_at FROM api_keys k"
                             " JOIN users u ON u.id = k.user_id WHERE k.user_id = $1", member.id)
    assert key["last_used_at"] is not None and key["last_active_at"] is not None
    stamped = key["last_used_at"]
    # within the minute: the next read leaves the stamps as they are (no write per request)
    assert (await client.get("/api/v1/projects", headers=member.headers)).status_code == 200
    [again] = await tenant.sql("SELECT last_used_at FROM api_keys WHERE user_id = $1", member.id)
    assert again["last_used_at"] == stamped
