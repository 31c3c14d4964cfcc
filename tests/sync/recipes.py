"""Route-walk recipes for the sync ingest (see tests/recipes.py)."""

from __future__ import annotations

import httpx

from tests.recipes import Env, audited


async def _project(env: Env) -> str:
    r = await env.client.post("/api/v1/projects", headers=env.tenant.headers,
                              json={"name": "walked"})
    assert r.status_code == 201, r.text
    pid: str = r.json()["id"]
    return pid


@audited("POST", "/api/v1/sync")
async def sync(env: Env) -> httpx.Response:
    pid = await _project(env)
    return await env.client.post("/api/v1/sync", headers=env.tenant.headers, json={
        "project_id": pid,
        "scan": {"id": "walk-1", "started_at": "2026-11-21T10:00:00Z",
                 "completed_at": "2026-11-21T10:00:01Z", "files_scanned": 1,
                 "duration_ms": 1000, "counts": {}},
        "gate_results": [], "violations": []})


@audited("POST", "/api/v1/events")
async def event(env: Env) -> httpx.Response:
    pid = await _project(env)
    return await env.client.post("/api/v1/events", headers=env.tenant.headers, json={
        "type": "grounding.degraded", "data": {"project_id": pid, "memory_id": "m1",
                                               "old_score": 0.8, "new_score": 0.2}})
