"""Route-walker recipes for /scim/v2 and /api/v1/settings/scim (see tests/recipes.py)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Tenant, bearer
from tests.recipes import AUDIT_EXEMPT, CROSS_TENANT_EXEMPT, Call, Env, audited, cross_tenant

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

for _path in ("/scim/v2/.search", "/scim/v2/Users/.search", "/scim/v2/Groups/.search"):
    AUDIT_EXEMPT[("POST", _path)] = "a search (RFC 7644 §3.4.3) is a read; it changes nothing"
for _method in ("POST", "PUT", "PATCH", "DELETE"):
    AUDIT_EXEMPT[(_method, "/scim/v2/Me")] = "always 501 Not Implemented; changes nothing"
for _route in (("GET", "/scim/v2/ResourceTypes/{resource_type_id}"),
               ("GET", "/scim/v2/Schemas/{schema_id}")):
    CROSS_TENANT_EXEMPT[_route] = ("ids are schema/resource-type names, not a tenant's resources; "
                                   "a tenant's custom schema is 404 to any other tenant "
                                   "(tests/scim/test_custom_attributes.py)")


async def _token(client: httpx.AsyncClient, t: Tenant) -> dict[str, str]:
    r = await client.post("/api/v1/settings/scim", headers=t.headers, json={"name": "walk"})
    assert r.status_code == 201, r.text
    return {**bearer(r.json()["token"]), "Content-Type": "application/scim+json"}


async def _user(env: Env, headers: dict[str, str]) -> dict[str, Any]:
    r = await env.client.post("/scim/v2/Users", headers=headers,
                              json={"userName": f"walk-{id(headers)}@example.com"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _group(env: Env, headers: dict[str, str]) -> dict[str, Any]:
    r = await env.client.post("/scim/v2/Groups", headers=headers,
                              json={"displayName": f"walk-{id(headers)}"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


@audited("POST", "/api/v1/settings/scim")
async def create_token(env: Env) -> httpx.Response:
    return await env.client.post("/api/v1/settings/scim", headers=env.tenant.headers)


@audited("DELETE", "/api/v1/settings/scim/{token_id}")
async def revoke_token(env: Env) -> httpx.Response:
    token = (await create_token(env)).json()
    return await env.client.delete(f"/api/v1/settings/scim/{token['id']}",
                                   headers=env.tenant.headers)


@cross_tenant("DELETE", "/api/v1/settings/scim/{token_id}")
async def cross_revoke_token(env: Env) -> list[Call]:
    token = (await create_token(env)).json()
    return [("DELETE", f"/api/v1/settings/scim/{token['id']}", {})]


@audited("PUT", "/api/v1/settings/scim/group-mappings")
async def put_mappings(env: Env) -> httpx.Response:
    return await env.client.put("/api/v1/settings/scim/group-mappings",
                                headers=env.tenant.headers,
                                json={"mappings": [{"group": "Admins", "role": "admin"}]})


@audited("PUT", "/api/v1/settings/scim/schema")
async def put_custom_schema(env: Env) -> httpx.Response:
    return await env.client.put("/api/v1/settings/scim/schema", headers=env.tenant.headers,
                                json={"attributes": [{"name": "badge", "type": "string"}]})


@audited("POST", "/scim/v2/Users")
async def create_user(env: Env) -> httpx.Response:
    return await env.client.post("/scim/v2/Users", headers=await _token(env.client, env.tenant),
                                 json={"userName": "walked@example.com"})


@audited("PUT", "/scim/v2/Users/{user_id}")
async def replace_user(env: Env) -> httpx.Response:
    h = await _token(env.client, env.tenant)
    u = await _user(env, h)
    return await env.client.put(f"/scim/v2/Users/{u['id']}", headers=h,
                                json={"userName": u["userName"], "title": "Walked"})


@audited("PATCH", "/scim/v2/Users/{user_id}")
async def patch_user(env: Env) -> httpx.Response:
    h = await _token(env.client, env.tenant)
    u = await _user(env, h)
    return await env.client.patch(f"/scim/v2/Users/{u['id']}", headers=h, json={
        "schemas": [PATCH], "Operations": [{"op": "replace", "path": "active",
                                            "value": False}]})


@audited("DELETE", "/scim/v2/Users/{user_id}")
async def delete_user(env: Env) -> httpx.Response:
    h = await _token(env.client, env.tenant)
    u = await _user(env, h)
    return await env.client.delete(f"/scim/v2/Users/{u['id']}", headers=h)


@audited("POST", "/scim/v2/Groups")
async def create_group(env: Env) -> httpx.Response:
    return await env.client.post("/scim/v2/Groups", headers=await _token(env.client, env.tenant),
                                 json={"displayName": "Walkers"})


@audited("PUT", "/scim/v2/Groups/{group_id}")
async def replace_group(env: Env) -> httpx.Response:
    h = await _token(env.client, env.tenant)
    g = await _group(env, h)
    return await env.client.put(f"/scim/v2/Groups/{g['id']}", headers=h,
                                json={"displayName": "Walked"})


@audited("PATCH", "/scim/v2/Groups/{group_id}")
async def patch_group(env: Env) -> httpx.Response:
    h = await _token(env.client, env.tenant)
    g = await _group(env, h)
    u = await _user(env, h)
    return await env.client.patch(f"/scim/v2/Groups/{g['id']}", headers=h, json={
        "schemas": [PATCH], "Operations": [{"op": "add", "path": "members",
                                            "value": [{"value": u["id"]}]}]})


@audited("DELETE", "/scim/v2/Groups/{group_id}")
async def delete_group(env: Env) -> httpx.Response:
    h = await _token(env.client, env.tenant)
    g = await _group(env, h)
    return await env.client.delete(f"/scim/v2/Groups/{g['id']}", headers=h)


@audited("POST", "/scim/v2/Bulk")
async def bulk(env: Env) -> httpx.Response:
    return await env.client.post("/scim/v2/Bulk", headers=await _token(env.client, env.tenant),
                                 json={"schemas": [
                                     "urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                                     "Operations": [{"method": "POST", "path": "/Users",
                                                     "bulkId": "one",
                                                     "data": {"userName": "bulk-walk"}}]})


@cross_tenant("GET", "/scim/v2/Users/{user_id}")
@cross_tenant("PUT", "/scim/v2/Users/{user_id}")
@cross_tenant("PATCH", "/scim/v2/Users/{user_id}")
@cross_tenant("DELETE", "/scim/v2/Users/{user_id}")
async def cross_user(env: Env) -> list[Call]:
    u = await _user(env, await _token(env.client, env.tenant))
    other = await _token(env.client, env.other)
    url = f"/scim/v2/Users/{u['id']}"
    return [("GET", url, {"headers": other}),
            ("PUT", url, {"headers": other, "json": {"userName": "x"}}),
            ("PATCH", url, {"headers": other, "json": {"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": "active", "value": False}]}}),
            ("DELETE", url, {"headers": other})]


@cross_tenant("GET", "/scim/v2/Groups/{group_id}")
@cross_tenant("PUT", "/scim/v2/Groups/{group_id}")
@cross_tenant("PATCH", "/scim/v2/Groups/{group_id}")
@cross_tenant("DELETE", "/scim/v2/Groups/{group_id}")
async def cross_group(env: Env) -> list[Call]:
    g = await _group(env, await _token(env.client, env.tenant))
    other = await _token(env.client, env.other)
    url = f"/scim/v2/Groups/{g['id']}"
    return [("GET", url, {"headers": other}),
            ("PUT", url, {"headers": other, "json": {"displayName": "x"}}),
            ("PATCH", url, {"headers": other, "json": {"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": "displayName", "value": "x"}]}}),
            ("DELETE", url, {"headers": other})]


@audited("PUT", "/api/v1/settings/scim/breaker")
async def put_breaker(env: Env) -> httpx.Response:
    return await env.client.put("/api/v1/settings/scim/breaker", headers=env.tenant.headers,
                                json={"min_changes": 1, "max_share": 0.01})


async def _held_change(env: Env) -> None:
    """One SCIM deactivation applied and one held (the breaker at its smallest)."""
    assert (await put_breaker(env)).status_code == 200
    headers = await _token(env.client, env.tenant)
    off = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active",
                                               "value": False}]}
    for _ in range(2):
        user = await env.tenant.add_user()
        r = await env.client.patch(f"/scim/v2/Users/{user.id}", headers=headers, json=off)
        assert r.status_code == 200, r.text


@audited("POST", "/api/v1/settings/scim/held/approve")
async def approve_held(env: Env) -> httpx.Response:
    await _held_change(env)
    return await env.client.post("/api/v1/settings/scim/held/approve",
                                 headers=env.tenant.headers)


@audited("POST", "/api/v1/settings/scim/held/reject")
async def reject_held(env: Env) -> httpx.Response:
    await _held_change(env)
    return await env.client.post("/api/v1/settings/scim/held/reject",
                                 headers=env.tenant.headers)
