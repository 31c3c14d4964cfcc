"""Projects API: CRUD, uniqueness, paging, roles, events and audit."""

from __future__ import annotations

import uuid

import httpx

from app.core.errors import NON_BLANK_PATTERN
from tests.conftest import Tenant, assert_problem, audit_events


async def test_project_crud_round_trip(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.post("/api/v1/projects", headers=tenant.headers,
                          json={"name": "Payments Service", "description": "the money path"})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["slug"] == "payments-service" and p["description"] == "the money path"
    assert r.headers["location"] == f"/api/v1/projects/{p['id']}"

    got = await client.get(f"/api/v1/projects/{p['id']}", headers=tenant.headers)
    assert got.status_code == 200 and got.json() == p

    patched = await client.patch(f"/api/v1/projects/{p['id']}", headers=tenant.headers,
                                 json={"name": "Payments", "description": None})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Payments" and patched.json()["description"] is None
    assert patched.json()["slug"] == "payments-service"

    assert (await client.delete(f"/api/v1/projects/{p['id']}",
                                headers=tenant.headers)).status_code == 204
    assert_problem(await client.get(f"/api/v1/projects/{p['id']}",
                             headers=tenant.headers), 404, "not_found")
    assert_problem(await client.delete(f"/api/v1/projects/{p['id']}",
                                headers=tenant.headers), 404, "not_found")

    events = await audit_events(tenant, resource_type="project")
    assert [e["action"] for e in events] == ["project.create", "project.update", "project.delete"]
    assert events[1]["metadata"]["changes"]["name"] == {"from": "Payments Service",
                                                        "to": "Payments"}
    assert all(e["actor_id"] == tenant.owner.id and e["actor_type"] == "api_key" for e in events)
    outbox = await tenant.sql("SELECT type, data FROM outbox_events ORDER BY created_at")
    assert [(o["type"], o["data"]["project_id"]) for o in outbox] == [
        ("project.created", p["id"]), ("project.deleted", p["id"])]


async def test_slug_is_unique_per_tenant(client: httpx.AsyncClient, tenant: Tenant,
                                         other_tenant: Tenant) -> None:
    body = {"name": "API", "slug": "api"}
    assert (await client.post("/api/v1/projects", headers=tenant.headers, json=body)
            ).status_code == 201
    dup = await client.post("/api/v1/projects", headers=tenant.headers, json=body)
    assert dup.status_code == 409 and dup.json()["code"] == "slug_taken"
    # another tenant may use the same slug
    assert (await client.post("/api/v1/projects", headers=other_tenant.headers, json=body)
            ).status_code == 201
    second = (await client.post("/api/v1/projects", headers=tenant.headers,
                                json={"name": "Web", "slug": "web"})).json()
    clash = await client.patch(f"/api/v1/projects/{second['id']}", headers=tenant.headers,
                               json={"slug": "api"})
    assert_problem(clash, 409, "slug_taken")
    assert len(await tenant.sql("SELECT 1 FROM projects")) == 2
    # the failed create left no audit event and no outbox event behind
    assert len(await audit_events(tenant, action="project.create")) == 2
    assert len(await tenant.sql("SELECT 1 FROM outbox_events")) == 2


async def test_bad_input_is_a_clear_4xx_and_writes_nothing(client: httpx.AsyncClient,
                                                           tenant: Tenant) -> None:
    cases = [
        ({"name": ""}, "name"),
        ({"name": "x", "slug": "Not A Slug"}, "slug"),
        ({"name": "x" * 201}, "name"),
        ({"name": "x", "unknown": 1}, "unknown"),
        ({}, "name"),
    ]
    for body, field in cases:
        r = await client.post("/api/v1/projects", headers=tenant.headers, json=body)
        assert r.status_code == 422, body
        problem = r.json()
        assert problem["code"] == "validation_error"
        assert any(e["field"] == field for e in problem["errors"]), problem
    r = await client.post("/api/v1/projects", headers={**tenant.headers,
                                                       "content-type": "application/json"},
                          content=b'{"name": ')
    assert r.status_code == 422
    r = await client.get("/api/v1/projects/not-a-uuid", headers=tenant.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path.project_id"
    assert await tenant.sql("SELECT 1 FROM projects") == []


async def test_paging_with_cursors_is_stable(client: httpx.AsyncClient, tenant: Tenant) -> None:
    ids = []
    for i in range(7):
        r = await client.post("/api/v1/projects", headers=tenant.headers, json={"name": f"p{i}"})
        ids.append(r.json()["id"])
    seen, cursor = [], None
    while True:
        url = "/api/v1/projects?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url, headers=tenant.headers)).json()
        assert page["pagination"]["total"] == 7 + (len(seen) >= 3)  # one added mid-way
        seen += [p["id"] for p in page["data"]]
        if len(seen) == 3:  # a project created while paging does not disturb the order
            await client.post("/api/v1/projects", headers=tenant.headers, json={"name": "late"})
        if not page["pagination"]["has_more"]:
            assert page["pagination"]["cursor"] is None
            break
        cursor = page["pagination"]["cursor"]
    assert seen[:7] == ids and len(seen) == 8 and len(set(seen)) == 8
    bad = await client.get("/api/v1/projects?cursor=%%%", headers=tenant.headers)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"
    too_many = await client.get("/api/v1/projects?limit=201", headers=tenant.headers)
    assert_problem(too_many, 422, "validation_error")


async def _assign(t: Tenant, user_id: object, project_id: str) -> None:
    team = (await t.sql("INSERT INTO teams (tenant_id, name) VALUES ($1, $2) RETURNING id",
                        t.id, f"team-{user_id}-{project_id}"))[0]["id"]
    await t.sql("INSERT INTO team_memberships (tenant_id, team_id, user_id) VALUES"
                " (current_setting('app.tenant_id')::uuid, $1, $2)", team, user_id)
    await t.sql("INSERT INTO team_projects (tenant_id, team_id, project_id) VALUES"
                " (current_setting('app.tenant_id')::uuid, $1, $2)", team, project_id)


async def test_roles_and_team_access(client: httpx.AsyncClient, tenant: Tenant) -> None:
    viewer = await tenant.add_user("viewer")
    member = await tenant.add_user("member")
    p = (await client.post("/api/v1/projects", headers=tenant.headers,
                           json={"name": "x"})).json()
    hidden = (await client.post("/api/v1/projects", headers=tenant.headers,
                                json={"name": "hidden"})).json()
    url = f"/api/v1/projects/{p['id']}"
    # not on any team: no access, and the list shows nothing
    r = await client.get(url, headers=member.headers)
    assert r.status_code == 403 and r.json()["code"] == "project_access_denied"
    assert (await client.get("/api/v1/projects", headers=member.headers)).json()["data"] == []
    await _assign(tenant, viewer.id, p["id"])
    await _assign(tenant, member.id, p["id"])
    assert (await client.get(url, headers=viewer.headers)).status_code == 200
    assert (await client.get(url, headers=member.headers)).status_code == 200
    listed = (await client.get("/api/v1/projects", headers=member.headers)).json()
    assert [x["id"] for x in listed["data"]] == [p["id"]]
    assert listed["pagination"]["total"] == 1
    assert_problem(await client.get(f"/api/v1/projects/{hidden['id']}", headers=member.headers),
                   403, "project_access_denied")
    # viewers read but never write; members write their team's projects; admins create/delete
    assert_problem(await client.patch(url, headers=viewer.headers, json={"name": "y"}),
                   403, "insufficient_role")
    assert (await client.patch(url, headers=member.headers, json={"name": "y"})).status_code == 200
    assert (await client.patch(f"/api/v1/projects/{hidden['id']}", headers=member.headers,
                               json={"name": "y"})).status_code == 403
    assert (await client.post("/api/v1/projects", headers=member.headers, json={"name": "z"})
            ).status_code == 403
    assert (await client.delete(url, headers=member.headers)).status_code == 403
    admin_list = (await client.get("/api/v1/projects", headers=tenant.headers)).json()
    assert admin_list["pagination"]["total"] == 2


async def test_other_tenant_gets_404_never_the_data(client: httpx.AsyncClient, tenant: Tenant,
                                                    other_tenant: Tenant) -> None:
    p = (await client.post("/api/v1/projects", headers=tenant.headers,
                           json={"name": "secret"})).json()
    url = f"/api/v1/projects/{p['id']}"
    h = other_tenant.headers
    for method, kwargs in [("GET", {}), ("PATCH", {"json": {"name": "pwned"}}),
                           ("DELETE", {})]:
        r = await client.request(method, url, headers=h, **kwargs)
        assert_problem(r, 404, "not_found", context=method)
        assert "secret" not in r.text
    listed = (await client.get("/api/v1/projects", headers=h)).json()
    assert listed["data"] == [] and listed["pagination"]["total"] == 0
    assert (await client.get(url, headers=tenant.headers)).json()["name"] == "secret"
    assert_problem(await client.get(f"/api/v1/projects/{uuid.uuid4()}", headers=h),
                   404, "not_found")


async def test_a_blank_name_is_refused_as_the_schema_says(client: httpx.AsyncClient,
                                                          tenant: Tenant) -> None:
    """Names are stripped, so the documented schema asks for a non-space character: what it
    accepts, the service accepts, and a blank name is a 422 naming the field."""
    r = await client.post("/api/v1/projects", headers=tenant.headers, json={"name": "   "})
    assert_problem(r, 422, "validation_error")
    assert r.json()["errors"] == [{"field": "name",
                                   "message": "String should have at least 1 character"}]
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert schema["ProjectCreate"]["properties"]["name"]["pattern"] == NON_BLANK_PATTERN
    r = await client.get("/api/v1/projects", headers=tenant.headers)
    assert r.json()["pagination"]["total"] == 0
