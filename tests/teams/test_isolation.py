"""Tenant isolation on every teams-capability endpoint: another tenant's admin (or owner) gets
404 for anything of ours named in a path or a body, and empty lists. (Path routes are also
walked by tests/test_route_walk.py through tests/teams/recipes.py.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.core.runtime import Runtime
from tests.conftest import Tenant
from tests.teams.conftest import create_project, create_team, invite, invite_token

pytestmark = pytest.mark.isolation


async def test_another_tenant_sees_and_touches_nothing(client: httpx.AsyncClient,
                                                       runtime: Runtime, tenant: Tenant,
                                                       other_tenant: Tenant) -> None:
    a, b = tenant, other_tenant
    member = await a.add_user("member")
    team = await create_team(client, a, "Secret Team")
    project = await create_project(client, a, "secret-project")
    await client.post(f"/api/v1/teams/{team['id']}/members", headers=a.headers,
                      json={"user_id": str(member.id)})
    await client.post(f"/api/v1/teams/{team['id']}/projects", headers=a.headers,
                      json={"project_id": project["id"]})
    inv = await invite(client, a)
    b_admin = await b.add_user("admin")
    b_team = await create_team(client, b, "B Team")

    before = {t: await a.sql(f"SELECT count(*) FROM {t}") for t in (
        "teams", "team_memberships", "team_projects", "invitations", "users", "email_outbox")}
    for headers in (b.headers, b_admin.headers):
        # lists are empty of A's data
        for path in ("/api/v1/teams", "/api/v1/invitations?status=all", "/api/v1/members"):
            body = (await client.get(path, headers=headers)).json()
            assert "Secret Team" not in str(body) and member.email not in str(body)
            assert inv["email"] not in str(body)
        count = (await client.get("/api/v1/members/count", headers=headers)).json()
        assert count["pending_invites"] == 0
        # A's ids named in paths: 404
        tid, uid, pid, iid = team["id"], member.id, project["id"], inv["id"]
        calls: list[tuple[str, str, Any]] = [
            ("GET", f"/api/v1/teams/{tid}", None),
            ("PATCH", f"/api/v1/teams/{tid}", {"description": "x"}),
            ("GET", f"/api/v1/teams/{tid}/members", None),
            ("GET", f"/api/v1/teams/{tid}/projects", None),
            ("PATCH", f"/api/v1/teams/{tid}/members/{uid}", {"role": "lead"}),
            ("DELETE", f"/api/v1/teams/{tid}/members/{uid}", None),
            ("DELETE", f"/api/v1/teams/{tid}/projects/{pid}", None),
            ("DELETE", f"/api/v1/teams/{tid}", None),
            ("GET", f"/api/v1/members/{uid}", None),
            ("PATCH", f"/api/v1/members/{uid}", {"role": "admin"}),
            ("DELETE", f"/api/v1/members/{uid}", None),
            ("POST", f"/api/v1/invitations/{iid}/resend", None),
            ("DELETE", f"/api/v1/invitations/{iid}", None),
            # A's ids named in B's own requests' bodies: 404 as well
            ("POST", f"/api/v1/teams/{b_team['id']}/members", {"user_id": str(uid)}),
            ("POST", f"/api/v1/teams/{b_team['id']}/members", {"email": member.email}),
            ("POST", f"/api/v1/teams/{b_team['id']}/projects", {"project_id": pid}),
            ("POST", "/api/v1/invitations", {"email": "x@b.example", "team_id": tid}),
        ]
        for method, path, body in calls:
            r = await client.request(method, path, headers=headers, json=body)
            assert r.status_code == 404, f"{method} {path}: {r.status_code} {r.text}"
            assert "Secret Team" not in r.text and "secret-project" not in r.text
    r = await client.post("/api/v1/settings/transfer-ownership", headers=b.headers,
                          json={"new_owner_id": str(member.id)})
    assert r.status_code == 404
    after = {t: await a.sql(f"SELECT count(*) FROM {t}") for t in before}
    assert after == before
    role = (await a.sql("SELECT role, active FROM users WHERE id = $1", member.id))[0]
    assert tuple(role) == ("member", True)
    # and A's member still reaches A's project, never B's
    assert (await client.get(f"/api/v1/projects/{project['id']}", headers=member.headers)
            ).status_code == 200
    assert (await client.get("/api/v1/teams", headers=member.headers)).json()[
        "pagination"]["total"] == 1


async def test_an_invitation_link_of_one_tenant_is_not_a_credential_elsewhere(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant,
        other_tenant: Tenant) -> None:
    _, token = await invite_token(client, runtime, tenant)
    # not a bearer credential for the API (of any tenant)
    r = await client.get("/api/v1/teams", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    # the invitation's hash resolves to its own tenant only
    rows = await tenant.sql("SELECT token_hash FROM invitations")
    assert await other_tenant.sql("SELECT 1 FROM invitations WHERE token_hash = $1",
                                  rows[0]["token_hash"]) == []
