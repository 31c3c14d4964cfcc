"""Teams API: CRUD, memberships, project assignments, who may read, SCIM-managed teams."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import Tenant, assert_problem, audit_events
from tests.teams.conftest import create_project, create_team


async def _reachable(client: httpx.AsyncClient, headers: dict[str, str]) -> set[str]:
    listed = (await client.get("/api/v1/projects", headers=headers)).json()
    assert listed["pagination"]["total"] == len(listed["data"])
    return {p["id"] for p in listed["data"]}


async def test_team_crud_round_trip(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """Create a team, add 3 members, assign 2 projects: the members reach exactly those
    projects; a member not in the team gets 403 on them; deleting the team takes memberships
    and assignments with it, never users or projects."""
    h = tenant.headers
    alice, bob = await tenant.add_user("member"), await tenant.add_user("member")
    vera = await tenant.add_user("viewer")
    outsider = await tenant.add_user("member")
    r = await client.post("/api/v1/teams", headers=h,
                          json={"name": "Platform", "description": "the paved road"})
    assert r.status_code == 201, r.text
    team = r.json()
    assert r.headers["location"] == f"/api/v1/teams/{team['id']}"
    assert (team["name"], team["description"], team["scim_managed"]) == (
        "Platform", "the paved road", False)
    assert (team["member_count"], team["project_count"]) == (0, 0)
    url = f"/api/v1/teams/{team['id']}"

    # three members: by id, by email (any case), and a lead
    added = [await client.post(f"{url}/members", headers=h, json=body) for body in (
        {"user_id": str(alice.id)},
        {"email": bob.email.upper(), "role": "member"},
        {"user_id": str(vera.id), "role": "lead"})]
    assert [a.status_code for a in added] == [201, 201, 201], [a.text for a in added]
    assert added[1].json()["user_id"] == str(bob.id)
    assert added[2].json()["role"] == "lead" and added[2].json()["tenant_role"] == "viewer"

    p1, p2 = await create_project(client, tenant), await create_project(client, tenant)
    p3 = await create_project(client, tenant)  # not assigned
    for p in (p1, p2):
        r = await client.post(f"{url}/projects", headers=h, json={"project_id": p["id"]})
        assert r.status_code == 201, r.text
        assert r.json()["project_id"] == p["id"] and r.json()["slug"] == p["slug"]

    got = (await client.get(url, headers=h)).json()
    assert (got["member_count"], got["project_count"]) == (3, 2)
    members = (await client.get(f"{url}/members", headers=h)).json()
    assert [m["user_id"] for m in members["data"]] == [str(alice.id), str(bob.id), str(vera.id)]
    assert members["pagination"]["total"] == 3
    projects = (await client.get(f"{url}/projects", headers=h)).json()
    assert [p["project_id"] for p in projects["data"]] == [p1["id"], p2["id"]]

    # the team's members reach exactly the team's projects
    for user in (alice, bob, vera):
        assert await _reachable(client, user.headers) == {p1["id"], p2["id"]}
        for p in (p1, p2):
            assert (await client.get(f"/api/v1/projects/{p['id']}", headers=user.headers)
                    ).status_code == 200
        denied = await client.get(f"/api/v1/projects/{p3['id']}", headers=user.headers)
        assert denied.status_code == 403 and denied.json()["code"] == "project_access_denied"
    # a member who is not in the team reaches none of them
    assert await _reachable(client, outsider.headers) == set()
    for p in (p1, p2):
        r = await client.get(f"/api/v1/projects/{p['id']}", headers=outsider.headers)
        assert r.status_code == 403 and r.json()["code"] == "project_access_denied"
    # members write their team's projects; viewers never write
    assert (await client.patch(f"/api/v1/projects/{p1['id']}", headers=alice.headers,
                               json={"description": "by alice"})).status_code == 200
    assert (await client.patch(f"/api/v1/projects/{p1['id']}", headers=vera.headers,
                               json={"description": "by vera"})).status_code == 403
    # the owner reaches everything
    assert await _reachable(client, h) >= {p1["id"], p2["id"], p3["id"]}

    # rename, then change a member's team role
    r = await client.patch(url, headers=h, json={"name": "Platform Eng", "description": None})
    assert r.status_code == 200 and r.json()["name"] == "Platform Eng"
    assert r.json()["description"] is None
    r = await client.patch(f"{url}/members/{bob.id}", headers=h, json={"role": "lead"})
    assert r.status_code == 200 and r.json()["role"] == "lead"

    # removing a member and unassigning a project take the access away at once
    assert (await client.delete(f"{url}/members/{alice.id}", headers=h)).status_code == 204
    assert await _reachable(client, alice.headers) == set()
    assert (await client.delete(f"{url}/projects/{p2['id']}", headers=h)).status_code == 204
    assert await _reachable(client, bob.headers) == {p1["id"]}

    # delete: memberships and assignments go, users and projects stay
    assert (await client.delete(url, headers=h)).status_code == 204
    assert_problem(await client.get(url, headers=h), 404, "team_not_found")
    assert await tenant.sql("SELECT 1 FROM team_memberships") == []
    assert await tenant.sql("SELECT 1 FROM team_projects") == []
    assert len(await tenant.sql("SELECT 1 FROM users WHERE active")) == 5
    assert len(await tenant.sql("SELECT 1 FROM projects")) == 3
    assert await _reachable(client, bob.headers) == set()

    events = await audit_events(tenant, resource_type="team")
    assert [e["action"] for e in events] == [
        "team.create", "team.member_add", "team.member_add", "team.member_add",
        "team.project_assign", "team.project_assign", "team.update", "team.member_role_change",
        "team.member_remove", "team.project_unassign", "team.delete"]
    assert all(e["resource_id"] == team["id"] for e in events)
    assert events[6]["metadata"]["changes"]["name"] == {"from": "Platform", "to": "Platform Eng"}
    assert events[7]["metadata"]["role"] == {"from": "member", "to": "lead"}
    assert events[10]["metadata"]["members_removed"] == 2
    assert events[10]["metadata"]["projects_unassigned"] == 1


async def test_team_rules_and_bad_input(client: httpx.AsyncClient, tenant: Tenant,
                                        other_tenant: Tenant) -> None:
    h = tenant.headers
    team = await create_team(client, tenant, "Data")
    url = f"/api/v1/teams/{team['id']}"
    # names are unique per tenant, case-insensitively (another tenant may reuse them)
    dup = await client.post("/api/v1/teams", headers=h, json={"name": "DATA"})
    assert dup.status_code == 409 and dup.json()["code"] == "team_name_taken"
    other = await create_team(client, tenant, "Web")
    clash = await client.patch(f"/api/v1/teams/{other['id']}", headers=h, json={"name": "data"})
    assert clash.status_code == 409 and clash.json()["code"] == "team_name_taken"
    assert (await create_team(client, other_tenant, "Data"))["name"] == "Data"
    for body in ({"name": ""}, {"name": "x" * 201}, {"name": "x", "extra": 1}, {}):
        assert_problem(await client.post("/api/v1/teams", headers=h, json=body),
                       422, "validation_error")

    user = await tenant.add_user("member")
    for body in ({}, {"user_id": str(user.id), "email": user.email},
                 {"user_id": str(user.id), "role": "owner"}):
        r = await client.post(f"{url}/members", headers=h, json=body)
        assert_problem(r, 422, "validation_error", context=body)
    unknown = await client.post(f"{url}/members", headers=h, json={"user_id": str(uuid.uuid4())})
    assert unknown.status_code == 404 and unknown.json()["code"] == "user_not_found"
    by_mail = await client.post(f"{url}/members", headers=h, json={"email": "no@body.example"})
    assert by_mail.status_code == 404
    assert (await client.post(f"{url}/members", headers=h, json={"user_id": str(user.id)})
            ).status_code == 201
    again = await client.post(f"{url}/members", headers=h, json={"user_id": str(user.id)})
    assert again.status_code == 409 and again.json()["code"] == "already_team_member"
    gone = await tenant.add_user("member")
    assert (await client.delete(f"/api/v1/members/{gone.id}", headers=h)).status_code == 204
    inactive = await client.post(f"{url}/members", headers=h, json={"user_id": str(gone.id)})
    assert inactive.status_code == 409 and inactive.json()["code"] == "user_inactive"
    not_in = await client.patch(f"{url}/members/{gone.id}", headers=h, json={"role": "lead"})
    assert not_in.status_code == 404 and not_in.json()["code"] == "team_member_not_found"
    assert_problem(await client.delete(f"{url}/members/{gone.id}", headers=h),
                   404, "team_member_not_found")
    assert_problem(await client.patch(f"{url}/members/{user.id}", headers=h, json={"role": "boss"}),
                   422, "validation_error")

    project = await create_project(client, tenant)
    missing = await client.post(f"{url}/projects", headers=h,
                                json={"project_id": str(uuid.uuid4())})
    assert missing.status_code == 404
    assert (await client.post(f"{url}/projects", headers=h, json={"project_id": project["id"]})
            ).status_code == 201
    twice = await client.post(f"{url}/projects", headers=h, json={"project_id": project["id"]})
    assert twice.status_code == 409 and twice.json()["code"] == "project_already_assigned"
    # deleting a project removes its assignments (and does not delete the team)
    assert (await client.delete(f"/api/v1/projects/{project['id']}", headers=h)
            ).status_code == 204
    assert (await client.get(url, headers=h)).json()["project_count"] == 0
    assert_problem(await client.delete(f"{url}/projects/{project['id']}", headers=h),
                   404, "team_project_not_found")
    assert_problem(await client.get(f"/api/v1/teams/{uuid.uuid4()}", headers=h),
                   404, "team_not_found")
    # refusals wrote nothing: one member_add, one project_assign
    actions = [e["action"] for e in await audit_events(tenant, resource_type="team")]
    assert actions.count("team.member_add") == 1 and actions.count("team.project_assign") == 1


async def test_members_read_only_their_own_teams(client: httpx.AsyncClient,
                                                 tenant: Tenant) -> None:
    h = tenant.headers
    member, viewer = await tenant.add_user("member"), await tenant.add_user("viewer")
    mine = await create_team(client, tenant, "Mine")
    theirs = await create_team(client, tenant, "Theirs")
    for user in (member, viewer):
        assert (await client.post(f"/api/v1/teams/{mine['id']}/members", headers=h,
                                  json={"user_id": str(user.id)})).status_code == 201
    for user in (member, viewer):
        listed = (await client.get("/api/v1/teams", headers=user.headers)).json()
        assert [t["id"] for t in listed["data"]] == [mine["id"]]
        assert listed["pagination"]["total"] == 1
        assert (await client.get(f"/api/v1/teams/{mine['id']}", headers=user.headers)
                ).status_code == 200
        ms = await client.get(f"/api/v1/teams/{mine['id']}/members", headers=user.headers)
        assert ms.status_code == 200 and ms.json()["pagination"]["total"] == 2
        assert (await client.get(f"/api/v1/teams/{mine['id']}/projects", headers=user.headers)
                ).status_code == 200
        for path in ("", "/members", "/projects"):
            r = await client.get(f"/api/v1/teams/{theirs['id']}{path}", headers=user.headers)
            assert r.status_code == 403 and r.json()["code"] == "team_access_denied"
        # members and viewers change nothing
        for method, path, body in [
                ("POST", "/api/v1/teams", {"name": "x"}),
                ("PATCH", f"/api/v1/teams/{mine['id']}", {"name": "y"}),
                ("DELETE", f"/api/v1/teams/{mine['id']}", None),
                ("POST", f"/api/v1/teams/{mine['id']}/members", {"user_id": str(user.id)}),
                ("DELETE", f"/api/v1/teams/{mine['id']}/members/{user.id}", None)]:
            r = await client.request(method, path, headers=user.headers, json=body)
            assert r.status_code == 403 and r.json()["code"] == "insufficient_role", path
    admin_list = (await client.get("/api/v1/teams", headers=h)).json()
    assert admin_list["pagination"]["total"] == 2
    # a user on no team sees an empty list
    loner = await tenant.add_user("member")
    assert (await client.get("/api/v1/teams", headers=loner.headers)).json()["data"] == []


async def test_team_lists_page_with_cursors(client: httpx.AsyncClient, tenant: Tenant) -> None:
    h = tenant.headers
    ids = [(await create_team(client, tenant, f"t{i}"))["id"] for i in range(5)]
    users = [await tenant.add_user("member") for _ in range(3)]
    for u in users:
        await client.post(f"/api/v1/teams/{ids[0]}/members", headers=h,
                          json={"user_id": str(u.id)})
    seen, cursor = [], None
    while True:
        page = (await client.get("/api/v1/teams?limit=2" + (f"&cursor={cursor}" if cursor
                                                             else ""), headers=h)).json()
        seen += [t["id"] for t in page["data"]]
        assert page["pagination"]["total"] == 5
        if not page["pagination"]["has_more"]:
            break
        cursor = page["pagination"]["cursor"]
    assert seen == ids
    first = (await client.get(f"/api/v1/teams/{ids[0]}/members?limit=2", headers=h)).json()
    assert first["pagination"]["has_more"] and len(first["data"]) == 2
    rest = (await client.get(f"/api/v1/teams/{ids[0]}/members?limit=2&cursor="
                             f"{first['pagination']['cursor']}", headers=h)).json()
    assert [m["user_id"] for m in first["data"] + rest["data"]] == [str(u.id) for u in users]


async def _scim_team(t: Tenant, name: str) -> str:
    rows = await t.sql("INSERT INTO teams (tenant_id, name, scim_managed, external_id)"
                       " VALUES ($1, $2, true, 'okta-group-1') RETURNING id", t.id, name)
    return str(rows[0]["id"])


async def test_scim_managed_teams_refuse_membership_changes(client: httpx.AsyncClient,
                                                            tenant: Tenant) -> None:
    """The IdP owns a mirrored group's name, existence and membership (409 managed_by_scim);
    its description, team roles and project assignments stay editable here."""
    h = tenant.headers
    team_id = await _scim_team(tenant, "Okta Engineers")
    url = f"/api/v1/teams/{team_id}"
    synced = await tenant.add_user("member")
    await tenant.sql("INSERT INTO team_memberships (tenant_id, team_id, user_id)"
                     " VALUES ($1, $2, $3)", tenant.id, uuid.UUID(team_id), synced.id)
    other = await tenant.add_user("member")
    got = (await client.get(url, headers=h)).json()
    assert got["scim_managed"] is True and got["external_id"] == "okta-group-1"

    refused = [
        await client.post(f"{url}/members", headers=h, json={"user_id": str(other.id)}),
        await client.delete(f"{url}/members/{synced.id}", headers=h),
        await client.patch(url, headers=h, json={"name": "Renamed"}),
        await client.delete(url, headers=h),
        await client.post("/api/v1/invitations", headers=h,
                          json={"email": "new@corp.example", "team_id": team_id}),
    ]
    for r in refused:
        assert r.status_code == 409 and r.json()["code"] == "managed_by_scim", r.text
    rows = await tenant.sql("SELECT user_id FROM team_memberships WHERE team_id = $1",
                            uuid.UUID(team_id))
    assert [r["user_id"] for r in rows] == [synced.id]
    assert await tenant.sql("SELECT 1 FROM invitations") == []

    # what the IdP does not manage stays editable
    r = await client.patch(url, headers=h, json={"description": "synced from Okta",
                                                 "name": "Okta Engineers"})
    assert r.status_code == 200 and r.json()["description"] == "synced from Okta"
    r = await client.patch(f"{url}/members/{synced.id}", headers=h, json={"role": "lead"})
    assert r.status_code == 200 and r.json()["role"] == "lead"
    project = await create_project(client, tenant)
    assert (await client.post(f"{url}/projects", headers=h, json={"project_id": project["id"]})
            ).status_code == 201
    assert (await client.get(f"/api/v1/projects/{project['id']}", headers=synced.headers)
            ).status_code == 200
    actions = [e["action"] for e in await audit_events(tenant, resource_type="team")]
    assert actions == ["team.update", "team.member_role_change", "team.project_assign"]
