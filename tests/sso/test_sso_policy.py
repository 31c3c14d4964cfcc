"""Enforcement, break-glass, just-in-time provisioning, deprovisioning and tenant isolation of
SSO logins, through the real OpenID Provider."""

from __future__ import annotations

import httpx

from tests.conftest import Tenant, assert_problem, audit_events, bearer
from tests.sso.conftest import Idp, add_connection, sso_callback, sso_login, start

PASSWORD = "correct horse battery staple"


async def _password_login(client: httpx.AsyncClient, t: Tenant, email: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login",
                             json={"tenant": t.slug, "email": email, "password": PASSWORD})


async def _enforce(client: httpx.AsyncClient, t: Tenant, *, owner_break_glass: bool = True
                   ) -> httpx.Response:
    return await client.put("/api/v1/settings/sso", headers=t.headers,
                            json={"enforced": True, "owner_break_glass": owner_break_glass})


async def test_enforced_sso_refuses_passwords_but_not_sso(
        client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: Idp, make_tenant: object
        ) -> None:
    t: Tenant = await make_tenant(owner_password=PASSWORD)  # type: ignore[operator]
    user = await t.add_user("admin", password=PASSWORD)
    before = (await _password_login(client, t, user.email)).json()  # a password session
    r = await _enforce(client, t)
    assert r.status_code == 409 and r.json()["code"] == "no_sso_connection"  # no lock-out
    await add_connection(t, client, idp)
    admin_try = await client.put("/api/v1/settings/sso", headers=user.headers,
                                 json={"enforced": True})
    assert admin_try.status_code == 403  # owner only
    assert (await _enforce(client, t)).status_code == 200
    assert [e["metadata"]["enforced"] for e in await audit_events(t, action="sso.enforced")] \
        == [True]

    r = await _password_login(client, t, user.email)
    assert r.status_code == 403 and r.json()["code"] == "sso_required"
    r = await client.post("/api/v1/auth/refresh",
                          json={"refresh_token": before["refresh_token"]})
    assert r.status_code == 403 and r.json()["code"] == "sso_required"
    refused = await audit_events(t, action="sso.password_refused")
    assert {e["metadata"]["kind"] for e in refused} == {"login", "refresh"}

    tokens = await sso_login(browser, t, user.email)  # SSO still works, and refreshes
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.text


async def test_break_glass_owner_signs_in_with_a_password_audited(
        client: httpx.AsyncClient, idp: Idp, make_tenant: object) -> None:
    t: Tenant = await make_tenant(owner_password=PASSWORD)  # type: ignore[operator]
    await add_connection(t, client, idp)
    assert (await _enforce(client, t)).status_code == 200
    r = await _password_login(client, t, t.owner.email)
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": r.json()["refresh_token"]})
    assert r.status_code == 200, r.text
    uses = await audit_events(t, action="sso.break_glass")
    assert [e["metadata"]["kind"] for e in uses] == ["login", "refresh"]
    # without break-glass the owner is bound like everyone else
    assert (await _enforce(client, t, owner_break_glass=False)).status_code == 200
    r = await _password_login(client, t, t.owner.email)
    assert r.status_code == 403 and r.json()["code"] == "sso_required"


async def test_jit_provisioning_respects_seats_and_group_mappings(
        client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: Idp, make_tenant: object
        ) -> None:
    t: Tenant = await make_tenant(seat_limit=2)  # type: ignore[operator]
    await add_connection(t, client, idp, jit_provisioning=True, default_role="viewer")
    r = await client.put("/api/v1/settings/scim/group-mappings", headers=t.headers,
                         json={"mappings": [{"group": "Engineering", "role": "admin"}]})
    assert r.status_code == 200, r.text
    tokens = await sso_login(browser, t, "grace@corp.test|engineering,Sales")
    me = (await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))).json()
    assert me["user"]["email"] == "grace@corp.test" and me["user"]["role"] == "admin"
    provisioned = await audit_events(t, action="user.provisioned")
    assert provisioned[0]["metadata"]["source"] == "sso"
    # no groups mapped: the connection's default role; but the plan is full now (2 seats)
    resp = await sso_callback(browser, t, "linus@corp.test")
    assert resp.status_code == 402 and resp.json()["code"] == "seat_limit_exceeded"
    assert await t.sql("SELECT 1 FROM users WHERE email = 'linus@corp.test'") == []
    failed = await audit_events(t, action="sso.login_failed")
    assert failed[-1]["metadata"]["reason"] == "seat_limit_exceeded"
    # a known user still signs in when the plan is full
    again = await sso_login(browser, t, "grace@corp.test|engineering")
    assert again["access_token"]


async def test_deprovisioned_user_sso_session_ends_at_once(
        client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: Idp, tenant: Tenant) -> None:
    await add_connection(tenant, client, idp)
    user = await tenant.add_user()
    tokens = await sso_login(browser, tenant, user.email)
    assert (await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
            ).status_code == 200
    r = await client.delete(f"/api/v1/members/{user.id}", headers=tenant.headers)
    assert r.status_code == 204, r.text
    me = await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 401
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    resp = await sso_callback(browser, tenant, user.email)  # and cannot sign in again
    assert resp.status_code == 401 and resp.json()["code"] == "sso_inactive_user"


async def test_a_tenants_connection_never_signs_into_another_tenant(
        client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: Idp, tenant: Tenant,
        other_tenant: Tenant) -> None:
    conn_a = await add_connection(tenant, client, idp, jit_provisioning=True)
    victim = await other_tenant.add_user("admin")  # exists only in B
    tokens = await sso_login(browser, tenant, victim.email)  # JIT in A, not B's user
    me = (await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))).json()
    assert me["tenant"]["id"] == str(tenant.id) and me["user"]["id"] != str(victim.id)
    # A's connection id named at B's start: not found
    r = await start(browser, other_tenant, connection=conn_a["id"])
    assert r.status_code == 404 and r.json()["code"] == "no_sso_connection"
    # A's state re-addressed to B: refused, nothing in B
    r = await start(browser, tenant)
    state = r.headers["location"].split("state=")[1].split("&")[0]
    forged = other_tenant.id.hex + state[32:]
    resp = await browser.get("/sso/oidc/callback", params={"state": forged, "code": "x"})
    assert resp.status_code == 400 and resp.json()["code"] == "sso_invalid_state"
    assert await other_tenant.sql("SELECT 1 FROM sessions WHERE sso_connection_id IS NOT NULL"
                                  ) == []
    # and B's admin cannot see A's connection
    r = await client.get(f"/api/v1/settings/sso/connections/{conn_a['id']}",
                         headers=other_tenant.headers)
    assert_problem(r, 404, "not_found")


async def test_the_last_connection_cannot_go_while_enforced(
        client: httpx.AsyncClient, idp: Idp, tenant: Tenant) -> None:
    conn = await add_connection(tenant, client, idp)
    assert (await _enforce(client, tenant)).status_code == 200
    url = f"/api/v1/settings/sso/connections/{conn['id']}"
    r = await client.patch(url, headers=tenant.headers, json={"enabled": False})
    assert r.status_code == 409 and r.json()["code"] == "sso_enforced"
    r = await client.delete(url, headers=tenant.headers)
    assert r.status_code == 409 and r.json()["code"] == "sso_enforced"
    [row] = await tenant.sql("SELECT enabled FROM sso_connections")
    assert row["enabled"] is True


async def test_scim_user_matches_by_external_id_and_scim_deprovisioning_ends_sso_session(
        client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: Idp, tenant: Tenant) -> None:
    from tests.scim.conftest import create_token

    scim = bearer((await create_token(client, tenant))["token"])
    scim["Content-Type"] = "application/scim+json"
    # the IdP's subject for login "ext-7@corp.test" is that string; SCIM sent it as externalId
    # with a different userName and email, so only the externalId can match
    r = await client.post("/scim/v2/Users", headers=scim, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada.l",
        "externalId": "ext-7@corp.test", "emails": [{"value": "ada@corp.test",
                                                     "primary": True}]})
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    await add_connection(tenant, client, idp)
    tokens = await sso_login(browser, tenant, "ext-7@corp.test")
    me = await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json()["user"]["id"] == user_id
    r = await client.patch(f"/scim/v2/Users/{user_id}", headers=scim, json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}]})
    assert r.status_code == 200, r.text
    me = await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert_problem(me, 401, "session_revoked")


async def test_ip_allowlist_applies_to_the_callback(
        app: object, client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: Idp,
        tenant: Tenant) -> None:
    from tests.sso.conftest import PUBLIC, idp_callback

    await add_connection(tenant, client, idp)
    user = await tenant.add_user()
    back = await idp_callback(browser, tenant, user.email)
    r = await client.post("/api/v1/settings/ip-allowlist", headers=tenant.headers,
                          json={"cidr": "127.0.0.1/32"})
    assert r.status_code == 201, r.text
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC,
                                 cookies=browser.cookies) as outside:
        resp = await outside.get(back.path + "?" + back.query)
    assert resp.status_code == 403 and resp.json()["code"] == "ip_not_allowed"
    assert await tenant.sql("SELECT 1 FROM sessions WHERE sso_connection_id IS NOT NULL") == []
