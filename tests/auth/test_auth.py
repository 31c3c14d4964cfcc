"""Login, sessions, API keys, roles and what a revoked credential can still do (nothing)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from jose import jwt

from app.core import clock
from tests.conftest import JWT_SECRET, Tenant, assert_problem, audit_events, bearer

PASSWORD = "correct horse battery staple"


async def _login(client: httpx.AsyncClient, t: Tenant, email: str, password: str = PASSWORD
                 ) -> httpx.Response:
    return await client.post("/api/v1/auth/login",
                             json={"tenant": t.slug, "email": email, "password": password})


async def test_login_me_refresh_logout(client: httpx.AsyncClient, tenant: Tenant) -> None:
    user = await tenant.add_user("admin", password=PASSWORD, name="Ada Admin")
    r = await _login(client, tenant, user.email.upper())  # email match is case-insensitive
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    assert tokens["refresh_token"].startswith("dcr_")

    me = await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json() == {
        "user": {"id": str(user.id), "email": user.email, "name": "Ada Admin", "role": "admin"},
        "tenant": {"id": str(tenant.id), "slug": tenant.slug, "name": f"Tenant {tenant.slug}",
                   "plan": "enterprise"},
        "credential": {"type": "session"},
    }

    r2 = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r2.status_code == 200
    rotated = r2.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert (await client.get("/api/v1/me", headers=bearer(rotated["access_token"]))
            ).status_code == 200

    out = await client.post("/api/v1/auth/logout", headers=bearer(rotated["access_token"]))
    assert out.status_code == 204
    # the session row decides: both access tokens of that session stop working at once
    for token in (tokens["access_token"], rotated["access_token"]):
        denied = await client.get("/api/v1/me", headers=bearer(token))
        assert denied.status_code == 401
        assert denied.json()["code"] == "session_revoked"
    assert_problem(await client.post("/api/v1/auth/refresh",
                                     json={"refresh_token": rotated["refresh_token"]}),
                   401, "invalid_refresh_token")
    actions = [e["action"] for e in await audit_events(tenant, actor_id=user.id)]
    assert actions[:3] == ["auth.login", "auth.refresh", "auth.logout"]
    assert "auth.denied" in actions


async def test_reused_refresh_token_ends_the_session(client: httpx.AsyncClient,
                                                     tenant: Tenant) -> None:
    user = await tenant.add_user("member", password=PASSWORD)
    first = (await _login(client, tenant, user.email)).json()
    second = (await client.post("/api/v1/auth/refresh",
                                json={"refresh_token": first["refresh_token"]})).json()
    replay = await client.post("/api/v1/auth/refresh",
                               json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["code"] == "refresh_token_reused"
    # the thief's replay ended the legitimate session too
    assert_problem(await client.get("/api/v1/me", headers=bearer(second["access_token"])),
                   401, "session_revoked")
    assert [e["action"] for e in await audit_events(tenant, action="auth.refresh_reused")]


@pytest.mark.parametrize("case", ["bad_password", "unknown_email", "unknown_tenant"])
async def test_failed_login_is_generic_and_audited(client: httpx.AsyncClient, tenant: Tenant,
                                                   case: str) -> None:
    user = await tenant.add_user("member", password=PASSWORD)
    body = {"tenant": tenant.slug, "email": user.email, "password": PASSWORD}
    if case == "bad_password":
        body["password"] = "nope"
    elif case == "unknown_email":
        body["email"] = "nobody@example.com"
    else:
        body["tenant"] = "no-such-tenant"
    r = await client.post("/api/v1/auth/login", json=body)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "invalid_login"
    assert r.json()["detail"] == "Invalid tenant, email or password."
    failed = await audit_events(tenant, action="auth.login_failed")
    if case == "unknown_tenant":
        assert failed == []
    else:
        assert len(failed) == 1 and failed[0]["outcome"] == "failure"
        assert failed[0]["metadata"]["reason"] == case


async def test_deactivated_user_cannot_log_in(client: httpx.AsyncClient, tenant: Tenant) -> None:
    user = await tenant.add_user("member", password=PASSWORD)
    await tenant.sql("UPDATE users SET active = false WHERE id = $1", user.id)
    assert_problem(await _login(client, tenant, user.email), 401, "invalid_login")


async def test_access_token_expires(client: httpx.AsyncClient, tenant: Tenant) -> None:
    user = await tenant.add_user("member", password=PASSWORD)
    tokens = (await _login(client, tenant, user.email)).json()
    clock.advance(timedelta(seconds=901))
    r = await client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert r.status_code == 401 and r.json()["code"] == "invalid_token"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize("attack", ["alg_none", "wrong_secret", "wrong_alg", "tampered_tenant"])
async def test_forged_tokens_are_refused(client: httpx.AsyncClient, tenant: Tenant,
                                         other_tenant: Tenant, attack: str) -> None:
    user = await tenant.add_user("admin", password=PASSWORD)
    tokens = (await _login(client, tenant, user.email)).json()
    claims = jwt.get_unverified_claims(tokens["access_token"])
    if attack == "alg_none":
        token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    elif attack == "wrong_secret":
        token = jwt.encode(claims, "not-the-secret", algorithm="HS256")
    elif attack == "wrong_alg":
        token = jwt.encode(claims, JWT_SECRET, algorithm="HS512")
    else:
        header, _, sig = tokens["access_token"].split(".")
        forged = {**claims, "tid": str(other_tenant.id)}
        token = f"{header}.{_b64(forged)}.{sig}"
    r = await client.get("/api/v1/me", headers=bearer(token))
    assert_problem(r, 401, "invalid_token")


async def test_missing_and_malformed_credentials(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/projects")
    assert r.status_code == 401 and r.json()["code"] == "missing_credentials"
    assert r.headers["www-authenticate"] == "Bearer"
    for header, code in (("Basic dXNlcjpwYXNz", "missing_credentials"),
                         ("Bearer", "missing_credentials"), ("Bearer dck_nope", "invalid_api_key"),
                         ("Bearer x.y.z", "invalid_token")):
        r = await client.get("/api/v1/projects", headers={"Authorization": header})
        assert_problem(r, 401, code, context=header)


async def test_scim_token_does_not_work_on_rest(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/projects", headers=bearer("dcs_" + "a" * 43))
    assert r.status_code == 401 and r.json()["code"] == "wrong_credential_type"


# ---- API keys ----

async def test_api_key_lifecycle(client: httpx.AsyncClient, tenant: Tenant) -> None:
    member = await tenant.add_user("member")
    created = await client.post("/api/v1/api-keys", headers=member.headers,
                                json={"name": "laptop"})
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["key"].startswith("dck_") and len(key["key"]) == 47
    assert key["prefix"] == key["key"][:12] and key["status"] == "active"
    assert created.headers["location"] == f"/api/v1/api-keys/{key['id']}"

    # the raw key works, is stored only as a hash and never shown again
    assert (await client.get("/api/v1/me", headers=bearer(key["key"]))).status_code == 200
    stored = await tenant.sql("SELECT sha256, prefix FROM api_keys WHERE id = $1", key["id"])
    assert key["key"].encode() not in bytes(stored[0]["sha256"]) and len(stored[0]["sha256"]) == 32
    listed = (await client.get("/api/v1/api-keys", headers=member.headers)).json()
    assert {k["id"] for k in listed["data"]} == {key["id"], str(
        (await tenant.sql("SELECT id FROM api_keys WHERE user_id = $1 AND id <> $2",
                          member.id, key["id"]))[0]["id"])}
    assert all("key" not in k for k in listed["data"])

    # revoke -> the very next request with it gets 401
    assert (await client.delete(f"/api/v1/api-keys/{key['id']}",
                                headers=member.headers)).status_code == 204
    r = await client.get("/api/v1/me", headers=bearer(key["key"]))
    assert r.status_code == 401 and r.json()["code"] == "credential_revoked"
    events = [e["action"] for e in await audit_events(tenant, resource_id=key["id"])]
    assert events == ["apikey.create", "apikey.revoke", "auth.denied"]


async def test_revocation_applies_even_when_the_key_was_cached(client: httpx.AsyncClient,
                                                               tenant: Tenant) -> None:
    member = await tenant.add_user("member")
    assert (await client.get("/api/v1/me", headers=member.headers)).status_code == 200
    await tenant.sql("UPDATE api_keys SET revoked_at = now() WHERE user_id = $1", member.id)
    r = await client.get("/api/v1/me", headers=member.headers)
    assert r.status_code == 401 and r.json()["code"] == "credential_revoked"


async def test_role_change_applies_to_the_next_request(client: httpx.AsyncClient,
                                                       tenant: Tenant) -> None:
    admin = await tenant.add_user("admin")
    assert (await client.post("/api/v1/projects", headers=admin.headers,
                              json={"name": "one"})).status_code == 201
    await tenant.sql("UPDATE users SET role = 'viewer' WHERE id = $1", admin.id)
    r = await client.post("/api/v1/projects", headers=admin.headers, json={"name": "two"})
    assert r.status_code == 403 and r.json()["code"] == "insufficient_role"
    me = (await client.get("/api/v1/me", headers=admin.headers)).json()
    assert me["user"]["role"] == "viewer"


async def test_expired_api_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    expires = (clock.now() + timedelta(hours=1)).isoformat()
    key = (await client.post("/api/v1/api-keys", headers=tenant.headers,
                             json={"name": "short", "expires_at": expires})).json()
    assert (await client.get("/api/v1/me", headers=bearer(key["key"]))).status_code == 200
    clock.advance(timedelta(hours=2))
    r = await client.get("/api/v1/me", headers=bearer(key["key"]))
    assert r.status_code == 401 and r.json()["code"] == "credential_expired"


async def test_api_key_validation(client: httpx.AsyncClient, tenant: Tenant) -> None:
    past = (clock.now() - timedelta(minutes=1)).isoformat()
    r = await client.post("/api/v1/api-keys", headers=tenant.headers,
                          json={"name": "old", "expires_at": past})
    assert r.status_code == 400 and "future" in r.json()["detail"]
    r = await client.post("/api/v1/api-keys", headers=tenant.headers, json={"name": ""})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    count = await tenant.sql("SELECT count(*) FROM api_keys")
    assert count[0][0] == 1  # only the owner's initial key


async def test_members_see_and_revoke_only_their_own_keys(client: httpx.AsyncClient,
                                                          tenant: Tenant) -> None:
    alice = await tenant.add_user("member")
    bob = await tenant.add_user("member")
    admin = await tenant.add_user("admin")
    bob_key = (await tenant.sql("SELECT id FROM api_keys WHERE user_id = $1", bob.id))[0]["id"]
    mine = (await client.get("/api/v1/api-keys", headers=alice.headers)).json()["data"]
    assert {k["user_id"] for k in mine} == {str(alice.id)}
    r = await client.get(f"/api/v1/api-keys?user_id={bob.id}", headers=alice.headers)
    assert r.status_code == 403
    assert (await client.delete(f"/api/v1/api-keys/{bob_key}",
                                headers=alice.headers)).status_code == 404
    everyone = (await client.get("/api/v1/api-keys", headers=admin.headers)).json()
    assert everyone["pagination"]["total"] == 4
    assert (await client.delete(f"/api/v1/api-keys/{bob_key}",
                                headers=admin.headers)).status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=bob.headers), 401, "credential_revoked")


async def test_logout_with_an_api_key_is_a_clear_400(client: httpx.AsyncClient,
                                                     tenant: Tenant) -> None:
    r = await client.post("/api/v1/auth/logout", headers=tenant.headers)
    assert r.status_code == 400 and r.json()["code"] == "not_a_session"


async def test_forbidden_is_audited_as_denied(client: httpx.AsyncClient, tenant: Tenant) -> None:
    viewer = await tenant.add_user("viewer")
    r = await client.post("/api/v1/projects", headers=viewer.headers, json={"name": "x"})
    assert r.status_code == 403
    assert r.json() == {
        "type": "https://docs.drift.dev/errors/insufficient_role", "title": "Forbidden",
        "status": 403, "code": "insufficient_role",
        "detail": "This action needs the admin role or higher.",
        "instance": "/api/v1/projects"}
    denied = await audit_events(tenant, action="access.denied")
    assert len(denied) == 1
    assert denied[0]["outcome"] == "denied" and denied[0]["actor_id"] == viewer.id
    assert denied[0]["request_id"] == r.headers["x-request-id"]
    assert await tenant.sql("SELECT * FROM projects") == []
