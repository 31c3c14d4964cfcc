"""Route-walker recipes for /scim/v2 and /api/v1/settings/scim (see tests/recipes.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


def _patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


@dataclass(frozen=True)
class _ResourceType:
    """Users or Groups: the two have the same create, replace and delete routes; the recipes
    for both are made by `_register` below from what differs."""

    name: str  # "Users" or "Groups"
    param: str  # the id's name in the OpenAPI path
    new: Callable[[str], dict[str, Any]]  # a body creating one, named after its argument
    replacement: Callable[[dict[str, Any]], dict[str, Any]]  # a PUT body for an existing one
    change: dict[str, Any]  # a PATCH operation that changes one

    @property
    def endpoint(self) -> str:
        return f"/scim/v2/{self.name}"

    @property
    def item(self) -> str:
        return f"{self.endpoint}/{{{self.param}}}"

    async def create(self, env: Env, headers: dict[str, str]) -> dict[str, Any]:
        r = await env.client.post(self.endpoint, headers=headers,
                                  json=self.new(f"walk-{id(headers)}"))
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body


USERS = _ResourceType("Users", "user_id", lambda name: {"userName": f"{name}@example.com"},
                      lambda user: {"userName": user["userName"], "title": "Walked"},
                      {"op": "replace", "path": "active", "value": False})
GROUPS = _ResourceType("Groups", "group_id", lambda name: {"displayName": name},
                       lambda _: {"displayName": "Walked"},
                       {"op": "replace", "path": "displayName", "value": "x"})


def _register(kind: _ResourceType) -> None:
    @audited("POST", kind.endpoint)
    async def create(env: Env) -> httpx.Response:
        return await env.client.post(kind.endpoint, headers=await _token(env.client, env.tenant),
                                     json=kind.new("walked"))

    @audited("PUT", kind.item)
    async def replace(env: Env) -> httpx.Response:
        h = await _token(env.client, env.tenant)
        made = await kind.create(env, h)
        return await env.client.put(f"{kind.endpoint}/{made['id']}", headers=h,
                                    json=kind.replacement(made))

    @audited("DELETE", kind.item)
    async def delete(env: Env) -> httpx.Response:
        h = await _token(env.client, env.tenant)
        made = await kind.create(env, h)
        return await env.client.delete(f"{kind.endpoint}/{made['id']}", headers=h)

    @cross_tenant("GET", kind.item)
    @cross_tenant("PUT", kind.item)
    @cross_tenant("PATCH", kind.item)
    @cross_tenant("DELETE", kind.item)
    async def cross(env: Env) -> list[Call]:
        made = await kind.create(env, await _token(env.client, env.tenant))
        other = await _token(env.client, env.other)
        url = f"{kind.endpoint}/{made['id']}"
        return [("GET", url, {"headers": other}),
                ("PUT", url, {"headers": other, "json": kind.replacement(made)}),
                ("PATCH", url, {"headers": other, "json": _patch_op(kind.change)}),
                ("DELETE", url, {"headers": other})]


_register(USERS)
_register(GROUPS)


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


@audited("PATCH", USERS.item)
async def patch_user(env: Env) -> httpx.Response:
    h = await _token(env.client, env.tenant)
    u = await USERS.create(env, h)
    return await env.client.patch(f"/scim/v2/Users/{u['id']}", headers=h,
                                  json=_patch_op(USERS.change))


@audited("PATCH", GROUPS.item)
async def patch_group(env: Env) -> httpx.Response:
    h = await _token(env.client, env.tenant)
    g = await GROUPS.create(env, h)
    u = await USERS.create(env, h)
    return await env.client.patch(f"/scim/v2/Groups/{g['id']}", headers=h, json=_patch_op(
        {"op": "add", "path": "members", "value": [{"value": u["id"]}]}))


@audited("POST", "/scim/v2/Bulk")
async def bulk(env: Env) -> httpx.Response:
    return await env.client.post("/scim/v2/Bulk", headers=await _token(env.client, env.tenant),
                                 json={"schemas": [
                                     "urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                                     "Operations": [{"method": "POST", "path": "/Users",
                                                     "bulkId": "one",
                                                     "data": {"userName": "bulk-walk"}}]})


@audited("PUT", "/api/v1/settings/scim/breaker")
async def put_breaker(env: Env) -> httpx.Response:
    return await env.client.put("/api/v1/settings/scim/breaker", headers=env.tenant.headers,
                                json={"min_changes": 1, "max_share": 0.01})


async def _held_change(env: Env) -> None:
    """One SCIM deactivation applied and one held (the breaker at its smallest)."""
    assert (await put_breaker(env)).status_code == 200
    headers = await _token(env.client, env.tenant)
    off = _patch_op(USERS.change)
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
