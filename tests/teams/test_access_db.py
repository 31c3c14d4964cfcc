"""The access model enforced by PostgreSQL itself, as the runtime role: the user entered by the
request's credential check reaches only their teams' projects through reachable_projects, the
row guards refuse writes the role may not make, and the owner cannot be unmade."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from app.core.access import enter_for, lookup_principal
from app.core.context import RequestContext
from app.core.runtime import Runtime
from app.core.tx import Tx, own_tx
from app.projects import repository as projects_repo
from tests.conftest import Tenant, User, assert_problem
from tests.teams.conftest import create_project, create_team, invite

pytestmark = pytest.mark.isolation


@asynccontextmanager
async def entered(rt: Runtime, token: str) -> AsyncIterator[Tx]:
    """A transaction entered exactly as a request's is (`BEGIN; SELECT drift_api.enter_*`),
    always rolled back."""
    principal, _ = await lookup_principal(rt, RequestContext(), token)
    async with rt.db.pool.acquire() as conn:
        await conn.execute(enter_for(principal).script)
        try:
            yield Tx(conn, principal.tenant_id, RequestContext(), principal)
        finally:
            await conn.execute("ROLLBACK")


async def _refused(rt: Runtime, token: str, sql: str, *args: Any, code: str = "DR403") -> str:
    async with entered(rt, token) as tx:
        with pytest.raises(asyncpg.PostgresError) as exc:
            await tx.execute(sql, *args)
    assert exc.value.sqlstate == code, exc.value
    return str(exc.value)


async def _setup(client: httpx.AsyncClient, t: Tenant
                 ) -> tuple[User, User, User, dict[str, Any], dict[str, Any], dict[str, Any]]:
    member, viewer, admin = (await t.add_user("member"), await t.add_user("viewer"),
                             await t.add_user("admin"))
    team = await create_team(client, t)
    mine, other = await create_project(client, t), await create_project(client, t)
    for u in (member, viewer):
        await client.post(f"/api/v1/teams/{team['id']}/members", headers=t.headers,
                          json={"user_id": str(u.id)})
    await client.post(f"/api/v1/teams/{team['id']}/projects", headers=t.headers,
                      json={"project_id": mine["id"]})
    return member, viewer, admin, team, mine, other


async def test_enter_functions_set_the_verified_user_and_role(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant) -> None:
    member = await tenant.add_user("member", password="enter-the-session-1")
    login = (await client.post("/api/v1/auth/login", json={
        "tenant": tenant.slug, "email": member.email, "password": "enter-the-session-1"})).json()
    for token, user_id, role in ((tenant.owner.api_key, tenant.owner.id, "owner"),
                                 (member.api_key, member.id, "member"),
                                 (login["access_token"], member.id, "member")):
        async with entered(runtime, token) as tx:
            row = await tx.fetchrow(
                "SELECT current_setting('app.tenant_id', true) AS t,"
                " current_setting('app.user_id', true) AS u, current_setting('app.role', true)"
                " AS r")
        assert row is not None
        assert (row["t"], row["u"], row["r"]) == (str(tenant.id), str(user_id), role)
    # transaction-local: the pooled connection keeps nothing afterwards
    async with runtime.db.pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_setting('app.role', true)") in (None, "")


async def test_reachable_projects_is_the_databases_own_filter(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant) -> None:
    member, viewer, admin, _team, mine, other = await _setup(client, tenant)
    everything = {UUID(mine["id"]), UUID(other["id"])}
    for user, expected in ((member, {UUID(mine["id"])}), (viewer, {UUID(mine["id"])}),
                           (admin, everything), (tenant.owner, everything)):
        async with entered(runtime, user.api_key) as tx:
            seen = {r["id"] for r in await tx.fetch("SELECT id FROM reachable_projects")}
            assert seen == expected, user.role
            # a query that "forgot" the Python filter still gets only reachable projects
            rows, total = await projects_repo.list_page(tx, after=None, limit=50)
            assert {r["id"] for r in rows} == expected and total == len(expected)
            hidden = await projects_repo.get_reachable(tx, UUID(other["id"]))
            assert (hidden is not None) == (user.role in ("admin", "owner"))
    loner = await tenant.add_user("member")
    async with entered(runtime, loner.api_key) as tx:
        assert await tx.fetch("SELECT id FROM reachable_projects") == []
    # a transaction no user entered (worker, SCIM, acceptance) reaches nothing through it
    assert await tenant.sql("SELECT id FROM reachable_projects") == []
    assert len(await tenant.sql("SELECT id FROM projects")) == 2


async def test_write_guards_follow_the_entered_role(client: httpx.AsyncClient,
                                                    runtime: Runtime, tenant: Tenant) -> None:
    member, viewer, admin, team, mine, other = await _setup(client, tenant)
    m, v = member.api_key, viewer.api_key
    team_id, mine_id, other_id = UUID(team["id"]), UUID(mine["id"]), UUID(other["id"])
    # members change their team's projects only, and never create or delete projects
    async with entered(runtime, m) as tx:
        assert await tx.execute("UPDATE projects SET description = 'm' WHERE id = $1",
                                mine_id) == "UPDATE 1"
    msg = await _refused(runtime, m, "UPDATE projects SET description = 'm' WHERE id = $1",
                         other_id)
    assert "project_access_denied" in msg
    await _refused(runtime, m, "DELETE FROM projects WHERE id = $1", mine_id)
    await _refused(runtime, m, "INSERT INTO projects (tenant_id, name, slug)"
                               " VALUES (current_setting('app.tenant_id')::uuid, 'x', 'x')")
    # viewers write no project at all
    await _refused(runtime, v, "UPDATE projects SET description = 'v' WHERE id = $1", mine_id)
    # nobody below admin can grant access: teams, memberships, assignments, invitations
    other_team = await create_team(client, tenant)
    await invite(client, tenant)
    for token in (m, v):
        msg = await _refused(
            runtime, token, "INSERT INTO team_memberships (tenant_id, team_id, user_id)"
            " VALUES (current_setting('app.tenant_id')::uuid, $1,"
            " current_setting('app.user_id')::uuid)", UUID(other_team["id"]))
        assert "insufficient_role" in msg
        await _refused(runtime, token, "INSERT INTO team_projects (tenant_id, team_id,"
                       " project_id) VALUES (current_setting('app.tenant_id')::uuid, $1, $2)",
                       team_id, other_id)
        await _refused(runtime, token, "UPDATE teams SET name = 'mine now' WHERE id = $1",
                       team_id)
        await _refused(runtime, token, "DELETE FROM team_memberships WHERE team_id = $1",
                       team_id)
        await _refused(runtime, token, "UPDATE invitations SET role = 'admin'")
        await _refused(runtime, token, "INSERT INTO teams (tenant_id, name)"
                       " VALUES (current_setting('app.tenant_id')::uuid, 'shadow')")
    # admins may do all of it
    async with entered(runtime, admin.api_key) as tx:
        await tx.execute("INSERT INTO team_projects (tenant_id, team_id, project_id)"
                         " VALUES ($1, $2, $3)", tenant.id, team_id, other_id)
        await tx.execute("UPDATE projects SET description = 'a' WHERE id = $1", other_id)
        await tx.execute("DELETE FROM projects WHERE id = $1", other_id)
    # the same statements through the API: refused in Python first, with the same outcome
    r = await client.patch(f"/api/v1/projects/{other['id']}", headers=member.headers,
                           json={"description": "m"})
    assert_problem(r, 403, "project_access_denied")


async def test_exactly_one_owner_is_held_by_the_database(client: httpx.AsyncClient,
                                                         runtime: Runtime,
                                                         tenant: Tenant) -> None:
    """Even a path that skipped every Python rule (SCIM included) cannot demote, deactivate or
    replace the owner except by moving tenants.owner_id in the same transaction."""
    owner = tenant.owner.id
    other = (await tenant.add_user("admin")).id

    async def run(statements: tuple[tuple[str, tuple[Any, ...]], ...]) -> None:
        async with own_tx(runtime.db, tenant.id) as tx:  # commits at the end
            for sql, args in statements:
                await tx.execute(sql, *args)

    async def refused(*statements: tuple[str, tuple[Any, ...]]) -> str:
        with pytest.raises(asyncpg.PostgresError) as exc:
            await run(statements)
        assert exc.value.sqlstate == "DR409", exc.value
        return str(exc.value)

    assert "owner_protected" in await refused(
        ("UPDATE users SET role = 'admin' WHERE id = $1", (owner,)))
    await refused(("UPDATE users SET active = false WHERE id = $1", (owner,)))
    await refused(("UPDATE users SET role = 'owner' WHERE id = $1", (other,)))
    # moving owner_id without the roles following is caught at commit (deferred check)
    await refused(("UPDATE tenants SET owner_id = $1", (other,)))
    await refused(("UPDATE tenants SET owner_id = $1", (other,)),
                  ("UPDATE users SET role = 'admin' WHERE id = $1", (owner,)))
    roles = {r["id"]: r["role"] for r in await tenant.sql("SELECT id, role FROM users")}
    assert roles == {owner: "owner", other: "admin"}
    # the transfer's own sequence commits
    async with own_tx(runtime.db, tenant.id) as tx:
        await tx.execute("UPDATE tenants SET owner_id = $1", other)
        await tx.execute("UPDATE users SET role = 'admin' WHERE id = $1", owner)
        await tx.execute("UPDATE users SET role = 'owner' WHERE id = $1", other)
    roles = {r["id"]: r["role"] for r in await tenant.sql("SELECT id, role FROM users")}
    assert roles == {owner: "admin", other: "owner"}
