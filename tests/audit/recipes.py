"""Route-walk recipes for the audit API (see tests/recipes.py): the retention setting, stream
tickets, and the SIEM streams (the only audit routes with a path parameter)."""

from __future__ import annotations

import httpx

from tests.recipes import Call, Env, audited, cross_tenant


@audited("PUT", "/api/v1/settings/audit-retention")
async def set_retention(env: Env) -> httpx.Response:
    return await env.as_owner("PUT", "/api/v1/settings/audit-retention", json={"days": 500})


@audited("POST", "/api/v1/audit/stream/tickets")
async def create_stream_ticket(env: Env) -> httpx.Response:
    return await env.as_owner("POST", "/api/v1/audit/stream/tickets")


STREAMS = "/api/v1/audit/streams"
# nothing listens there: the recipes never run the push job
_DEST = "http://127.0.0.1:9/services/collector/event"


async def _stream(env: Env) -> str:
    stream = await env.created(STREAMS, {
        "name": "walk", "type": "splunk_hec", "url": _DEST, "token": "walk-token",
        "status": "paused"})
    sid: str = stream["id"]
    return sid


@audited("POST", STREAMS)
async def create_audit_stream(env: Env) -> httpx.Response:
    return await env.as_owner("POST", STREAMS, json={
        "name": "walk", "type": "datadog", "url": _DEST, "token": "k", "status": "paused"})


@audited("PATCH", STREAMS + "/{stream_id}")
async def update_audit_stream(env: Env) -> httpx.Response:
    sid = await _stream(env)
    return await env.as_owner("PATCH", f"{STREAMS}/{sid}", json={"name": "renamed"})


@audited("DELETE", STREAMS + "/{stream_id}")
async def delete_audit_stream(env: Env) -> httpx.Response:
    sid = await _stream(env)
    return await env.as_owner("DELETE", f"{STREAMS}/{sid}")


@cross_tenant("GET", STREAMS + "/{stream_id}")
@cross_tenant("PATCH", STREAMS + "/{stream_id}")
@cross_tenant("DELETE", STREAMS + "/{stream_id}")
async def cross_audit_stream(env: Env) -> list[Call]:
    url = f"{STREAMS}/{await _stream(env)}"
    return [("GET", url, {}), ("PATCH", url, {"json": {"status": "active"}}),
            ("DELETE", url, {})]
