"""Route-walk recipes for the IP allowlist (see tests/recipes.py)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from app.email.service import body_of
from tests.recipes import AUDIT_EXEMPT, CROSS_TENANT_EXEMPT, Call, Env, audited, cross_tenant

PREFIX = "/api/v1/settings/ip-allowlist"
TOKEN_ROUTE = f"{PREFIX}/emergency-reset/{{token}}"

AUDIT_EXEMPT[("POST", f"{PREFIX}/check")] = (
    "read-only: evaluates an address against the list and changes nothing")
CROSS_TENANT_EXEMPT[("POST", TOKEN_ROUTE)] = (
    "the path parameter is a one-time bearer token, not a tenant resource id: the token names "
    "its tenant; test_recovery.py::test_reset_token_only_touches_its_own_tenant covers isolation")
CROSS_TENANT_EXEMPT[("GET", TOKEN_ROUTE)] = CROSS_TENANT_EXEMPT[("POST", TOKEN_ROUTE)]


async def _entry(env: Env, cidr: str = "127.0.0.0/8") -> dict[str, Any]:
    return await env.created(PREFIX, {"cidr": cidr, "description": "walk"})


@audited("POST", PREFIX)
async def create(env: Env) -> httpx.Response:
    return await env.as_owner("POST", PREFIX, json={"cidr": "127.0.0.1"})


@audited("PATCH", f"{PREFIX}/{{entry_id}}")
async def update(env: Env) -> httpx.Response:
    e = await _entry(env)
    return await env.as_owner("PATCH", f"{PREFIX}/{e['id']}", json={"description": "walked"})


@audited("DELETE", f"{PREFIX}/{{entry_id}}")
async def delete(env: Env) -> httpx.Response:
    e = await _entry(env)
    return await env.as_owner("DELETE", f"{PREFIX}/{e['id']}")


@audited("POST", f"{PREFIX}/emergency-reset")
async def request_reset(env: Env) -> httpx.Response:
    return await env.as_owner("POST", f"{PREFIX}/emergency-reset")


async def reset_token(env: Env) -> str:
    """Ask for a reset link as the owner and read the token out of the queued email."""
    r = await request_reset(env)
    assert r.status_code == 202, r.text
    rows = await env.tenant.sql("SELECT body_encrypted FROM email_outbox"
                                " WHERE kind = 'ip_allowlist_reset' ORDER BY created_at DESC")
    body = body_of(env.runtime.secret_key, rows[0]["body_encrypted"])
    m = re.search(r"/emergency-reset/(dce_[A-Za-z0-9_-]+)", body)
    assert m, body
    return m.group(1)


@audited("POST", TOKEN_ROUTE)
async def complete_reset(env: Env) -> httpx.Response:
    await _entry(env)
    token = await reset_token(env)
    return await env.client.post(f"{PREFIX}/emergency-reset/{token}")


@cross_tenant("GET", f"{PREFIX}/{{entry_id}}")
@cross_tenant("PATCH", f"{PREFIX}/{{entry_id}}")
@cross_tenant("DELETE", f"{PREFIX}/{{entry_id}}")
async def cross(env: Env) -> list[Call]:
    e = await _entry(env)
    url = f"{PREFIX}/{e['id']}"
    return [("GET", url, {}), ("PATCH", url, {"json": {"description": "x", "force": True}}),
            ("DELETE", f"{url}?force=true", {})]


@audited("POST", f"{PREFIX}/promote")
async def promote(env: Env) -> httpx.Response:
    await env.created(PREFIX, {"cidr": "127.0.0.0/8", "mode": "report_only"})
    return await env.as_owner("POST", f"{PREFIX}/promote")
