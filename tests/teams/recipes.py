"""Route recipes for the walkers (tests/test_route_walk.py): every teams-capability mutation
is audited; every route naming a tenant resource gives another tenant's admin 404."""

from __future__ import annotations

from typing import Any

import httpx

from tests.recipes import CROSS_TENANT_EXEMPT, Call, Env, audited, cross_tenant
from tests.teams.conftest import create_project, create_team, invite, invite_token, unique_email

CROSS_TENANT_EXEMPT[("POST", "/api/v1/invitations/{token}/accept")] = (
    "the path names a bearer token, not a tenant resource id: the token itself selects its "
    "tenant (tests/teams/test_invitations.py::test_a_token_only_ever_enters_its_own_tenant)")


async def _team_with_member(env: Env) -> tuple[dict[str, Any], Any]:
    team = await create_team(env.client, env.tenant)
    user = await env.tenant.add_user("member")
    await env.created(f"/api/v1/teams/{team['id']}/members", {"user_id": str(user.id)})
    return team, user


async def _team_with_project(env: Env) -> tuple[dict[str, Any], dict[str, Any]]:
    team = await create_team(env.client, env.tenant)
    project = await create_project(env.client, env.tenant)
    await env.created(f"/api/v1/teams/{team['id']}/projects", {"project_id": project["id"]})
    return team, project


# ---- teams ----

@audited("POST", "/api/v1/teams")
async def create(env: Env) -> httpx.Response:
    return await env.as_owner("POST", "/api/v1/teams", json={"name": "walkers"})


@audited("PATCH", "/api/v1/teams/{team_id}")
async def update(env: Env) -> httpx.Response:
    team = await create_team(env.client, env.tenant)
    return await env.as_owner("PATCH", f"/api/v1/teams/{team['id']}",
                              json={"description": "walked"})


@audited("DELETE", "/api/v1/teams/{team_id}")
async def delete(env: Env) -> httpx.Response:
    team = await create_team(env.client, env.tenant)
    return await env.as_owner("DELETE", f"/api/v1/teams/{team['id']}")


@audited("POST", "/api/v1/teams/{team_id}/members")
async def add_member(env: Env) -> httpx.Response:
    team = await create_team(env.client, env.tenant)
    user = await env.tenant.add_user("member")
    return await env.as_owner("POST", f"/api/v1/teams/{team['id']}/members",
                              json={"email": user.email})


@audited("PATCH", "/api/v1/teams/{team_id}/members/{user_id}")
async def update_member(env: Env) -> httpx.Response:
    team, user = await _team_with_member(env)
    return await env.as_owner("PATCH", f"/api/v1/teams/{team['id']}/members/{user.id}",
                              json={"role": "lead"})


@audited("DELETE", "/api/v1/teams/{team_id}/members/{user_id}")
async def remove_member(env: Env) -> httpx.Response:
    team, user = await _team_with_member(env)
    return await env.as_owner("DELETE", f"/api/v1/teams/{team['id']}/members/{user.id}")


@audited("POST", "/api/v1/teams/{team_id}/projects")
async def assign(env: Env) -> httpx.Response:
    team = await create_team(env.client, env.tenant)
    project = await create_project(env.client, env.tenant)
    return await env.as_owner("POST", f"/api/v1/teams/{team['id']}/projects",
                              json={"project_id": project["id"]})


@audited("DELETE", "/api/v1/teams/{team_id}/projects/{project_id}")
async def unassign(env: Env) -> httpx.Response:
    team, project = await _team_with_project(env)
    return await env.as_owner("DELETE", f"/api/v1/teams/{team['id']}/projects/{project['id']}")


@cross_tenant("GET", "/api/v1/teams/{team_id}")
@cross_tenant("PATCH", "/api/v1/teams/{team_id}")
@cross_tenant("DELETE", "/api/v1/teams/{team_id}")
@cross_tenant("GET", "/api/v1/teams/{team_id}/members")
@cross_tenant("POST", "/api/v1/teams/{team_id}/members")
@cross_tenant("PATCH", "/api/v1/teams/{team_id}/members/{user_id}")
@cross_tenant("DELETE", "/api/v1/teams/{team_id}/members/{user_id}")
@cross_tenant("GET", "/api/v1/teams/{team_id}/projects")
@cross_tenant("POST", "/api/v1/teams/{team_id}/projects")
@cross_tenant("DELETE", "/api/v1/teams/{team_id}/projects/{project_id}")
async def cross_teams(env: Env) -> list[Call]:
    team, user = await _team_with_member(env)
    project = await create_project(env.client, env.tenant)
    await env.created(f"/api/v1/teams/{team['id']}/projects", {"project_id": project["id"]})
    other_user = await env.other.add_user("member")
    url = f"/api/v1/teams/{team['id']}"
    return [
        ("GET", url, {}),
        ("PATCH", url, {"json": {"name": "taken over"}}),
        ("GET", f"{url}/members", {}),
        ("POST", f"{url}/members", {"json": {"user_id": str(other_user.id)}}),
        ("PATCH", f"{url}/members/{user.id}", {"json": {"role": "lead"}}),
        ("DELETE", f"{url}/members/{user.id}", {}),
        ("GET", f"{url}/projects", {}),
        ("POST", f"{url}/projects", {"json": {"project_id": project["id"]}}),
        ("DELETE", f"{url}/projects/{project['id']}", {}),
        ("DELETE", url, {}),
    ]


# ---- invitations ----

@audited("POST", "/api/v1/invitations")
async def create_invitation(env: Env) -> httpx.Response:
    return await env.as_owner("POST", "/api/v1/invitations",
                              json={"email": unique_email(env.tenant)})


@audited("DELETE", "/api/v1/invitations/{invitation_id}")
async def revoke_invitation(env: Env) -> httpx.Response:
    inv = await invite(env.client, env.tenant)
    return await env.as_owner("DELETE", f"/api/v1/invitations/{inv['id']}")


@audited("POST", "/api/v1/invitations/{invitation_id}/resend")
async def resend_invitation(env: Env) -> httpx.Response:
    inv = await invite(env.client, env.tenant)
    return await env.as_owner("POST", f"/api/v1/invitations/{inv['id']}/resend")


@audited("POST", "/api/v1/invitations/{token}/accept")
async def accept_invitation(env: Env) -> httpx.Response:
    _, token = await invite_token(env.client, env.runtime, env.tenant)
    return await env.client.post(f"/api/v1/invitations/{token}/accept", json={"name": "Walker"})


@cross_tenant("DELETE", "/api/v1/invitations/{invitation_id}")
@cross_tenant("POST", "/api/v1/invitations/{invitation_id}/resend")
async def cross_invitations(env: Env) -> list[Call]:
    inv = await invite(env.client, env.tenant)
    url = f"/api/v1/invitations/{inv['id']}"
    return [("POST", f"{url}/resend", {}), ("DELETE", url, {})]


# ---- members and ownership ----

@audited("PATCH", "/api/v1/members/{user_id}")
async def change_role(env: Env) -> httpx.Response:
    user = await env.tenant.add_user("member")
    return await env.as_owner("PATCH", f"/api/v1/members/{user.id}", json={"role": "viewer"})


@audited("DELETE", "/api/v1/members/{user_id}")
async def remove(env: Env) -> httpx.Response:
    user = await env.tenant.add_user("member")
    return await env.as_owner("DELETE", f"/api/v1/members/{user.id}")


@cross_tenant("GET", "/api/v1/members/{user_id}")
@cross_tenant("PATCH", "/api/v1/members/{user_id}")
@cross_tenant("DELETE", "/api/v1/members/{user_id}")
async def cross_members(env: Env) -> list[Call]:
    user = await env.tenant.add_user("member")
    url = f"/api/v1/members/{user.id}"
    return [("GET", url, {}), ("PATCH", url, {"json": {"role": "admin"}}), ("DELETE", url, {})]


@audited("POST", "/api/v1/settings/transfer-ownership")
async def transfer(env: Env) -> httpx.Response:
    admin = await env.tenant.add_user("admin")
    return await env.as_owner("POST", "/api/v1/settings/transfer-ownership",
                              json={"new_owner_id": str(admin.id)})


@audited("PUT", "/api/v1/settings/owner-identity")
async def owner_identity(env: Env) -> httpx.Response:
    return await env.as_owner("PUT", "/api/v1/settings/owner-identity",
                              json={"managed_by_idp": True})
