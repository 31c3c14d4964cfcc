from __future__ import annotations

from typing import Any

import httpx

from tests.recipes import Call, Env, audited, cross_tenant


async def _project(env: Env) -> dict[str, Any]:
    return await env.created("/api/v1/projects", {"name": "walked"})


@audited("POST", "/api/v1/projects")
async def create(env: Env) -> httpx.Response:
    return await env.as_owner("POST", "/api/v1/projects", json={"name": "walk"})


@audited("PATCH", "/api/v1/projects/{project_id}")
async def update(env: Env) -> httpx.Response:
    p = await _project(env)
    return await env.as_owner("PATCH", f"/api/v1/projects/{p['id']}",
                              json={"description": "walked"})


@audited("DELETE", "/api/v1/projects/{project_id}")
async def delete(env: Env) -> httpx.Response:
    p = await _project(env)
    return await env.as_owner("DELETE", f"/api/v1/projects/{p['id']}")


@cross_tenant("GET", "/api/v1/projects/{project_id}")
@cross_tenant("PATCH", "/api/v1/projects/{project_id}")
@cross_tenant("DELETE", "/api/v1/projects/{project_id}")
async def cross(env: Env) -> list[Call]:
    p = await _project(env)
    url = f"/api/v1/projects/{p['id']}"
    return [("GET", url, {}), ("PATCH", url, {"json": {"name": "x"}}), ("DELETE", url, {})]
