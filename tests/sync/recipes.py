"""Route-walk recipes for the sync ingest (see tests/recipes.py)."""

from __future__ import annotations

import httpx

from tests.recipes import Env, audited


async def _project(env: Env) -> str:
    pid: str = (await env.created("/api/v1/projects", {"name": "walked"}))["id"]
    return pid


@audited("POST", "/api/v1/sync")
async def sync(env: Env) -> httpx.Response:
    pid = await _project(env)
    return await env.as_owner("POST", "/api/v1/sync", json={
        "project_id": pid,
        "scan": {"id": "walk-1", "started_at": "2026-11-21T10:00:00Z",
                 "completed_at": "2026-11-21T10:00:01Z", "files_scanned": 1,
                 "duration_ms": 1000, "counts": {}},
        "gate_results": [], "violations": []})


@audited("POST", "/api/v1/events")
async def event(env: Env) -> httpx.Response:
    pid = await _project(env)
    return await env.as_owner("POST", "/api/v1/events", json={
        "type": "grounding.degraded", "data": {"project_id": pid, "memory_id": "m1",
                                               "old_score": 0.8, "new_score": 0.2}})
