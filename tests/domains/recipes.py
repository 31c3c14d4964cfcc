"""Route-walk recipes for verified domains (see tests/recipes.py)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import app_with, asgi_client
from tests.domains.conftest import PREFIX, Zone, running_dns
from tests.recipes import Call, Env, audited, cross_tenant


async def _domain(env: Env, name: str = "walk.example") -> dict[str, Any]:
    return await env.created(PREFIX, {"domain": name})


@audited("POST", PREFIX)
async def create(env: Env) -> httpx.Response:
    return await env.as_owner("POST", PREFIX, json={"domain": "walk-create.example"})


@audited("POST", f"{PREFIX}/{{domain_id}}/verify")
async def verify(env: Env) -> httpx.Response:
    d = await _domain(env, "walk-verify.example")
    zone = Zone()
    zone.publish(d["challenge"]["name"], d["challenge"]["value"])
    with running_dns(zone) as address:
        async with asgi_client(app_with(env.runtime, dns_nameservers=[address])) as client:
            return await client.post(f"{PREFIX}/{d['id']}/verify", headers=env.tenant.headers)


@audited("DELETE", f"{PREFIX}/{{domain_id}}")
async def delete(env: Env) -> httpx.Response:
    d = await _domain(env, "walk-delete.example")
    return await env.as_owner("DELETE", f"{PREFIX}/{d['id']}")


@cross_tenant("GET", f"{PREFIX}/{{domain_id}}")
async def cross(env: Env) -> list[Call]:
    d = await _domain(env, "walk-cross.example")
    url = f"{PREFIX}/{d['id']}"
    return [("GET", url, {}), ("POST", f"{url}/verify", {}), ("DELETE", url, {})]


cross_tenant("POST", f"{PREFIX}/{{domain_id}}/verify")(cross)
cross_tenant("DELETE", f"{PREFIX}/{{domain_id}}")(cross)
