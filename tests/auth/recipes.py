from __future__ import annotations

import httpx

from tests.conftest import bearer
from tests.recipes import Call, Env, audited, cross_tenant

PASSWORD = "walk-the-routes-1"


async def _session(env: Env) -> dict[str, str]:
    user = await env.tenant.add_user("member", password=PASSWORD)
    r = await env.client.post("/api/v1/auth/login", json={
        "tenant": env.tenant.slug, "email": user.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    tokens: dict[str, str] = r.json()
    return tokens


@audited("POST", "/api/v1/auth/login")
async def login(env: Env) -> httpx.Response:
    user = await env.tenant.add_user("member", password=PASSWORD)
    return await env.client.post("/api/v1/auth/login", json={
        "tenant": env.tenant.slug, "email": user.email, "password": PASSWORD})


@audited("POST", "/api/v1/auth/refresh")
async def refresh(env: Env) -> httpx.Response:
    tokens = await _session(env)
    return await env.client.post("/api/v1/auth/refresh",
                                 json={"refresh_token": tokens["refresh_token"]})


@audited("POST", "/api/v1/auth/logout")
async def logout(env: Env) -> httpx.Response:
    tokens = await _session(env)
    return await env.client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))


@audited("POST", "/api/v1/api-keys")
async def create_key(env: Env) -> httpx.Response:
    return await env.as_owner("POST", "/api/v1/api-keys", json={"name": "walk"})


@audited("DELETE", "/api/v1/api-keys/{key_id}")
async def revoke_key(env: Env) -> httpx.Response:
    key = (await create_key(env)).json()
    return await env.as_owner("DELETE", f"/api/v1/api-keys/{key['id']}")


@cross_tenant("DELETE", "/api/v1/api-keys/{key_id}")
async def cross_revoke_key(env: Env) -> list[Call]:
    key = (await create_key(env)).json()
    return [("DELETE", f"/api/v1/api-keys/{key['id']}", {})]


