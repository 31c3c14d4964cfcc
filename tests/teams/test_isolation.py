"""Tenant isolation on every teams-capability endpoint: another tenant's admin (or owner) gets
404 for anything of ours named in a path or a body, and empty lists. (Path routes are also
walked by tests/test_route_walk.py through tests/teams/recipes.py.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.core.runtime import Runtime
from tests.conftest import Tenant, assert_problem
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
        calls: list[tuple[str, str, Any, str]] = [
            ("GET", f"/api/v1/teams/{tid}", None, "team_not_found"),
            ("PATCH", f"/api/v1/teams/{tid}", {"description": "x"}, "team_not_found"),
            ("GET", f"/api/v1/teams/{tid}/members", None, "team_not_found"),
            ("GET", f"/api/v1/teams/{tid}/projects", None, "team_not_found"),
            ("PATCH", f"/api/v1/teams/{tid}/members/{uid}", {"role": "lead"}, "team_not_found"),
            ("DELETE", f"/api/v1/teams/{tid}/members/{uid}", None, "team_not_found"),
            ("DELETE", f"/api/v1/teams/{tid}/projects/{pid}", None, "team_not_found"),
            ("DELETE", f"/api/v1/teams/{tid}", None, "team_not_found"),
            ("GET", f"/api/v1/members/{uid}", None, "user_not_found"),
            ("PATCH", f"/api/v1/members/{uid}", {"role": "admin"}, "user_not_found"),
            ("DELETE", f"/api/v1/members/{uid}", None, "user_not_found"),
            ("POST", f"/api/v1/invitations/{iid}/resend", None, "invitation_not_found"),
            ("DELETE", f"/api/v1/invitations/{iid}", None, "invitation_not_found"),
            # A's ids named in B's own requests' bodies: 404 as well
            ("POST", f"/api/v1/teams/{b_team['id']}/members", {"user_id": str(uid)},
             "user_not_found"),
            ("POST", f"/api/v1/teams/{b_team['id']}/members", {"email": member.email},
             "user_not_found"),
            ("POST", f"/api/v1/teams/{b_team['id']}/projects", {"project_id": pid}, "not_found"),
            ("POST", "/api/v1/invitations", {"email": "x@b.example", "team_id": tid},
             "team_not_found"),
        ]
        for method, path, body, code in calls:
            r = await client.request(method, path, headers=headers, json=body)
            assert_problem(r, 404, code, context=f"{method} {path}")
            assert "Secret Team" not in r.text and "secret-project" not in r.text
    r = await client.post("/api/v1/settings/transfer-ownership", headers=b.headers,
                          json={"new_owner_id": str(member.id)})
    assert_problem(r, 404, "user_not_found")
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
    assert_problem(r, 401, "invalid_token")
    # the invitation's hash resolves to its own tenant only
    rows = await tenant.sql("SELECT token_hash FROM invitations")
    assert await other_tenant.sql("SELECT 1 FROM invitations WHERE token_hash = $1",
                                  rows[0]["token_hash"]) == []
