"""The OIDC login round trip against a real OpenID Provider (tests/sso/idp)."""

from __future__ import annotations

import httpx

from tests.conftest import Tenant, audit_events, bearer
from tests.sso.conftest import Idp, add_connection, exchange, sso_callback, sso_code


async def test_sso_login_gives_a_working_session(client: httpx.AsyncClient,
                                                 browser: httpx.AsyncClient, idp: Idp,
                                                 tenant: Tenant) -> None:
    conn = await add_connection(tenant, client, idp)
    user = await tenant.add_user("member")
    resp = await sso_callback(browser, tenant, user.email, return_to="/projects?tab=mine")
    location = resp.headers["location"]
    assert location.startswith("https://drift.test/projects?tab=mine&sso_code=")
    code = sso_code(resp)
    tokens = (await exchange(browser, code)).json()
    me = await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["user"]["id"] == str(user.id)
    assert me.json()["credential"]["type"] == "session"
    # the code works once
    again = await exchange(browser, code)
    assert again.status_code == 401 and again.json()["code"] == "invalid_sso_code"
    # the session is marked with its connection and refreshes like any other
    rows = await tenant.sql("SELECT sso_connection_id FROM sessions WHERE user_id = $1", user.id)
    assert [str(r["sso_connection_id"]) for r in rows] == [conn["id"]]
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    events = await audit_events(tenant, action="sso.login")
    assert len(events) == 1 and events[0]["actor_id"] == user.id


async def test_unknown_user_without_jit_is_refused_and_audited(
        client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: Idp, tenant: Tenant) -> None:
    await add_connection(tenant, client, idp)
    resp = await sso_callback(browser, tenant, "stranger@corp.test")
    assert resp.status_code == 401 and resp.json()["code"] == "sso_unknown_user"
    assert await tenant.sql("SELECT 1 FROM users WHERE email = 'stranger@corp.test'") == []
    failed = await audit_events(tenant, action="sso.login_failed")
    assert [e["metadata"]["reason"] for e in failed] == ["unknown_user"]


