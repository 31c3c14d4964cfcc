"""SCIM fixtures: a tenant's SCIM token and a small client that speaks application/scim+json."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import Tenant, bearer

SCIM_JSON = "application/scim+json"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


async def create_token(client: httpx.AsyncClient, tenant: Tenant, name: str = "Okta"
                       ) -> dict[str, Any]:
    r = await client.post("/api/v1/settings/scim", headers=tenant.headers, json={"name": name})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


@dataclass
class Scim:
    """Requests to /scim/v2 as one tenant's identity provider."""

    client: httpx.AsyncClient
    tenant: Tenant
    token: str
    token_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {**bearer(self.token), "Accept": SCIM_JSON}

    async def request(self, method: str, path: str, json: Any = None,
                      headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        h = dict(self.headers)
        if json is not None:
            h["Content-Type"] = SCIM_JSON
        h.update(headers or {})
        content = orjson.dumps(json) if json is not None else None
        return await self.client.request(method, f"/scim/v2{path}", content=content, headers=h,
                                         **kw)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, json: Any, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, json=json, **kw)

    async def put(self, path: str, json: Any, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, json=json, **kw)

    async def patch(self, path: str, json: Any, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", path, json=json, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kw)

    async def create_user(self, user_name: str, **attrs: Any) -> dict[str, Any]:
        r = await self.post("/Users", {"schemas": [USER_URN], "userName": user_name, **attrs})
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def create_group(self, name: str, members: list[str] | None = None, **attrs: Any
                           ) -> dict[str, Any]:
        body = {"schemas": [GROUP_URN], "displayName": name, **attrs}
        if members is not None:
            body["members"] = [{"value": m} for m in members]
        r = await self.post("/Groups", body)
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    @staticmethod
    def ops(*operations: dict[str, Any]) -> dict[str, Any]:
        return {"schemas": [PATCH_URN], "Operations": list(operations)}


MakeScim = Callable[[Tenant], Awaitable[Scim]]


async def scim_client(client: httpx.AsyncClient, t: Tenant) -> Scim:
    """`t`'s identity provider with a new SCIM token."""
    token = await create_token(client, t)
    return Scim(client, t, token["token"], token["id"])


@pytest.fixture
def make_scim(client: httpx.AsyncClient) -> MakeScim:
    async def factory(t: Tenant) -> Scim:
        return await scim_client(client, t)

    return factory


@pytest.fixture
async def scim(make_scim: MakeScim, tenant: Tenant) -> Scim:
    return await make_scim(tenant)


@pytest.fixture
async def other_scim(make_scim: MakeScim, other_tenant: Tenant) -> Scim:
    return await make_scim(other_tenant)


def assert_scim_error(r: httpx.Response, status: int, scim_type: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(SCIM_JSON)
    body = r.json()
    assert body["schemas"] == [ERROR_URN]
    assert body["status"] == str(status)
    assert isinstance(body["detail"], str) and body["detail"]
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
