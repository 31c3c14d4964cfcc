"""Route-walk recipes for the webhooks API (see tests/recipes.py). Endpoints point at a closed
loopback port; every recipe leaves its tenant quiet (no active endpoint, nothing pending)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import free_port
from tests.recipes import Call, Env, audited, cross_tenant
from tests.webhooks.conftest import quiesce
from tests.webhooks.helpers import emit_events

BASE = "/api/v1/webhooks"


def _url() -> str:
    return f"http://127.0.0.1:{free_port()}/walk"


async def _endpoint(env: Env) -> dict[str, Any]:
    return await env.created(BASE, {"url": _url(), "events": ["sync.failed"]})


async def _failed_delivery(env: Env) -> tuple[dict[str, Any], str]:
    endpoint = await _endpoint(env)
    await emit_events(env.tenant, 1)
    (row,) = await env.tenant.sql(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL,"
        " attempt = 6 WHERE endpoint_id = $1 RETURNING id", endpoint["id"])
    return endpoint, str(row["id"])


async def _quiet(env: Env, response: httpx.Response) -> httpx.Response:
    await quiesce(env.tenant)
    return response


@audited("POST", BASE)
async def register(env: Env) -> httpx.Response:
    r = await env.as_owner("POST", BASE, json={"url": _url(), "events": ["ping"]})
    return await _quiet(env, r)


@audited("PATCH", BASE + "/{webhook_id}")
async def update(env: Env) -> httpx.Response:
    e = await _endpoint(env)
    r = await env.as_owner("PATCH", f"{BASE}/{e['id']}", json={"description": "walked"})
    return await _quiet(env, r)


@audited("DELETE", BASE + "/{webhook_id}")
async def delete(env: Env) -> httpx.Response:
    e = await _endpoint(env)
    return await env.as_owner("DELETE", f"{BASE}/{e['id']}")


@audited("POST", BASE + "/{webhook_id}/test")
async def test_ping(env: Env) -> httpx.Response:
    e = await _endpoint(env)
    r = await env.as_owner("POST", f"{BASE}/{e['id']}/test")
    return await _quiet(env, r)


@audited("POST", BASE + "/{webhook_id}/rotate-secret")
async def rotate(env: Env) -> httpx.Response:
    e = await _endpoint(env)
    r = await env.as_owner("POST", f"{BASE}/{e['id']}/rotate-secret",
                           json={"grace_period_seconds": 60})
    return await _quiet(env, r)


@audited("POST", BASE + "/{webhook_id}/deliveries/{delivery_id}/retry")
async def retry(env: Env) -> httpx.Response:
    e, delivery = await _failed_delivery(env)
    r = await env.as_owner("POST", f"{BASE}/{e['id']}/deliveries/{delivery}/retry")
    return await _quiet(env, r)


@audited("POST", BASE + "/{webhook_id}/recover")
async def recover(env: Env) -> httpx.Response:
    e, _ = await _failed_delivery(env)
    r = await env.as_owner("POST", f"{BASE}/{e['id']}/recover",
                           json={"since": "2020-01-01T00:00:00Z"})
    return await _quiet(env, r)


@cross_tenant("GET", BASE + "/{webhook_id}")
@cross_tenant("PATCH", BASE + "/{webhook_id}")
@cross_tenant("DELETE", BASE + "/{webhook_id}")
@cross_tenant("POST", BASE + "/{webhook_id}/test")
@cross_tenant("POST", BASE + "/{webhook_id}/rotate-secret")
@cross_tenant("GET", BASE + "/{webhook_id}/deliveries")
@cross_tenant("GET", BASE + "/{webhook_id}/deliveries/{delivery_id}")
@cross_tenant("GET", BASE + "/{webhook_id}/events")
@cross_tenant("POST", BASE + "/{webhook_id}/deliveries/{delivery_id}/retry")
@cross_tenant("POST", BASE + "/{webhook_id}/recover")
async def cross(env: Env) -> list[Call]:
    e, delivery = await _failed_delivery(env)
    await quiesce(env.tenant)
    url = f"{BASE}/{e['id']}"
    return [("GET", url, {}), ("PATCH", url, {"json": {"description": "x"}}),
            ("DELETE", url, {}), ("POST", f"{url}/test", {}),
            ("POST", f"{url}/rotate-secret", {"json": {"grace_period_seconds": 0}}),
            ("GET", f"{url}/deliveries", {}), ("GET", f"{url}/deliveries/{delivery}", {}),
            ("GET", f"{url}/events", {"params": {"after_seq": 0}}),
            ("POST", f"{url}/deliveries/{delivery}/retry", {}),
            ("POST", f"{url}/recover", {"json": {"since": "2020-01-01T00:00:00Z"}})]
