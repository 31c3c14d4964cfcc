"""SCIM tokens (admin REST) and who may use /scim/v2: only a tenant's live SCIM token."""

from __future__ import annotations

import hashlib

import httpx

from tests.conftest import Tenant, assert_problem, audit_events, bearer
from tests.scim.conftest import MakeScim, Scim, assert_scim_error, create_token

PASSWORD = "scim-auth-password-1"


async def test_create_list_and_revoke_tokens(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create_token(client, tenant, "Okta production")
    token = created["token"]
    assert token.startswith("dcs_") and len(token) >= 4 + 43
    assert created["prefix"] == token[:12] and created["status"] == "active"
    assert created["name"] == "Okta production" and created["created_by"] == str(tenant.owner.id)
    # stored as SHA-256 only
    rows = await tenant.sql("SELECT token_hash, prefix FROM scim_tokens")
    assert [bytes(r["token_hash"]) for r in rows] == [hashlib.sha256(token.encode()).digest()]

    listed = await client.get("/api/v1/settings/scim", headers=tenant.headers)
    assert listed.status_code == 200
    item = listed.json()["data"][0]
    assert item["prefix"] == created["prefix"] and item["last_used_at"] is None
    assert "token" not in item and listed.json()["pagination"]["total"] == 1

    assert (await client.get("/scim/v2/Users", headers=bearer(token))).status_code == 200
    used = (await client.get("/api/v1/settings/scim", headers=tenant.headers)).json()["data"][0]
    assert used["last_used_at"] is not None

    r = await client.delete(f"/api/v1/settings/scim/{created['id']}", headers=tenant.headers)
    assert r.status_code == 204
    denied = await client.get("/scim/v2/Users", headers=bearer(token))
    assert_scim_error(denied, 401)
    assert denied.headers["www-authenticate"].startswith("Bearer")
    revoked = (await client.get("/api/v1/settings/scim", headers=tenant.headers)).json()["data"]
    assert revoked[0]["status"] == "revoked" and revoked[0]["revoked_at"] is not None
    actions = [e["action"] for e in await audit_events(tenant, resource_type="scim_token")]
    assert actions == ["scim.token_created", "scim.token_revoked", "scim.auth_failed"]


async def test_at_most_two_active_tokens_for_rotation(client: httpx.AsyncClient,
                                                      tenant: Tenant) -> None:
    first = await create_token(client, tenant, "old")
    await create_token(client, tenant, "new")
    third = await client.post("/api/v1/settings/scim", headers=tenant.headers, json={})
    assert third.status_code == 409 and third.json()["code"] == "scim_token_limit"
    assert len(await tenant.sql("SELECT 1 FROM scim_tokens")) == 2
    await client.delete(f"/api/v1/settings/scim/{first['id']}", headers=tenant.headers)
    again = await client.post("/api/v1/settings/scim", headers=tenant.headers)
    assert again.status_code == 201 and again.json()["name"] == "SCIM token"


async def test_a_token_that_was_just_used_stops_on_its_very_next_request(
        scim: Scim, client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert (await scim.get("/Users")).status_code == 200  # now in the principal cache
    await client.delete(f"/api/v1/settings/scim/{scim.token_id}", headers=tenant.headers)
    assert_scim_error(await scim.get("/Users"), 401)
    assert_scim_error(await scim.post("/Users", {"userName": "x"}), 401)
    assert not await tenant.sql("SELECT 1 FROM users WHERE user_name = 'x'")
    failures = await audit_events(tenant, action="scim.auth_failed")
    assert failures and failures[0]["actor_type"] == "scim"
    assert failures[0]["metadata"]["reason"] == "token_revoked"


async def test_only_admins_manage_tokens(client: httpx.AsyncClient, tenant: Tenant,
                                         other_tenant: Tenant) -> None:
    member = await tenant.add_user("member")
    assert (await client.post("/api/v1/settings/scim", headers=member.headers)
            ).status_code == 403
    assert (await client.get("/api/v1/settings/scim", headers=member.headers)).status_code == 403
    admin = await tenant.add_user("admin")
    created = (await client.post("/api/v1/settings/scim", headers=admin.headers)).json()
    assert (await client.delete(f"/api/v1/settings/scim/{created['id']}",
                                headers=member.headers)).status_code == 403
    # another tenant's admin cannot even see it
    assert (await client.delete(f"/api/v1/settings/scim/{created['id']}",
                                headers=other_tenant.headers)).status_code == 404
    assert (await client.get("/api/v1/settings/scim", headers=other_tenant.headers)
            ).json()["data"] == []


async def test_missing_or_bad_token_is_401_in_the_scim_error_format(
        client: httpx.AsyncClient, scim: Scim) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, bearer("dcs_" + "x" * 43),
                    bearer("not-a-token")):
        r = await client.get("/scim/v2/Users", headers=headers)
        assert_scim_error(r, 401)
    r = await client.post("/scim/v2/Users", json={"userName": "nobody"})
    assert_scim_error(r, 401)


async def test_user_credentials_never_work_on_scim(client: httpx.AsyncClient, tenant: Tenant,
                                                   scim: Scim) -> None:
    admin = await tenant.add_user("admin", password=PASSWORD)
    login = await client.post("/api/v1/auth/login", json={
        "tenant": tenant.slug, "email": admin.email, "password": PASSWORD})
    access = login.json()["access_token"]
    for headers in (tenant.headers, admin.headers, bearer(access)):
        assert_scim_error(await client.get("/scim/v2/Users", headers=headers), 401)
        assert_scim_error(await client.post("/scim/v2/Users", headers=headers,
                                            json={"userName": "via-user-credential"}), 401)
    assert not await tenant.sql("SELECT 1 FROM users WHERE user_name = 'via-user-credential'")
    reasons = {e["metadata"]["reason"]
               for e in await audit_events(tenant, action="scim.auth_failed")}
    assert reasons == {"wrong_credential_type"}
    # and the SCIM token does not work on the REST API
    assert_problem(await client.get("/api/v1/me", headers=bearer(scim.token)),
                   401, "wrong_credential_type")
    assert_problem(await client.get("/api/v1/settings/scim", headers=bearer(scim.token)),
                   401, "wrong_credential_type")


async def test_each_tenant_token_is_its_own(make_scim: MakeScim, tenant: Tenant,
                                            other_tenant: Tenant) -> None:
    a, b = await make_scim(tenant), await make_scim(other_tenant)
    await a.create_user("only-in-a")
    names_b = [u["userName"] for u in (await b.get("/Users")).json()["Resources"]]
    assert "only-in-a" not in names_b and names_b == [other_tenant.owner.email]
