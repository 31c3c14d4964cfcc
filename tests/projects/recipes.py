from __future__ import annotations

from typing import Any

import httpx

from tests.recipes import Call, Env, audited, cross_tenant


async def _project(env: Env) -> dict[str, Any]:
    r = await env.client.post("/api/v1/projects", headers=env.tenant.headers,
                              json={"name": "walked"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


@audited("POST", "/api/v1/projects")
async def create(env: Env) -> httpx.Response:
    return await env.client.post("/api/v1/projects", headers=env.tenant.headers,
                                 json={"name": "walk"})


@audited("PATCH", "/api/v1/projects/{project_id}")
async def update(env: Env) -> httpx.Response:
    p = await _project(env)
    return await env.client.patch(f"/api/v1/projects/{p['id']}", headers=env.tenant.headers,
                                  json={"description": "walked"})


@audited("DELETE", "/api/v1/projects/{project_id}")
async def delete(env: Env) -> httpx.Response:
    p = await _project(env)
    return await env.client.delete(f"/api/v1/projects/{p['id']}", headers=env.tenant.headers)


@cross_tenant("GET", "/api/v1/projects/{project_id}")
@cross_tenant("PATCH", "/api/v1/projects/{project_id}")
@cross_tenant("DELETE", "/api/v1/projects/{project_id}")
async def cross(env: Env) -> list[Call]:
    p = await _project(env)
    url = f"/api/v1/projects/{p['id']}"
    return [("GET", url, {}), ("PATCH", url, {"json": {"name": "x"}}), ("DELETE", url, {})]
