"""Route-walk recipes for the audit API (see tests/recipes.py). The audit routes take no path
parameters; the one mutating route is the retention setting."""

from __future__ import annotations

import httpx

from tests.recipes import Env, audited


@audited("PUT", "/api/v1/settings/audit-retention")
async def set_retention(env: Env) -> httpx.Response:
    return await env.client.put("/api/v1/settings/audit-retention", headers=env.tenant.headers,
                                json={"days": 500})


@audited("POST", "/api/v1/audit/stream/tickets")
async def create_stream_ticket(env: Env) -> httpx.Response:
    return await env.client.post("/api/v1/audit/stream/tickets", headers=env.tenant.headers)
