"""Every id_token and state rule, each against the real OpenID Provider: a login that breaks one
rule is refused with its own code, audited as sso.login_failed with the reason, and creates no
session."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.core import clock
from app.sso import oidc
from tests.conftest import Tenant, audit_events
from tests.sso.conftest import Idp, add_connection, idp_callback, sso_callback, start, through_idp


async def _refused(t: Tenant, resp: httpx.Response, code: str, reason: str,
                   status: int = 401) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code
    failed = await audit_events(t, action="sso.login_failed")
    assert [e["metadata"]["reason"] for e in failed][-1:] == [reason]
    assert await t.sql("SELECT 1 FROM sessions WHERE sso_connection_id IS NOT NULL") == []


async def test_wrong_state_is_refused(client: httpx.AsyncClient, browser: httpx.AsyncClient,
                                      idp: Idp, tenant: Tenant) -> None:
    await add_connection(tenant, client, idp)
    user = await tenant.add_user()
    back = await idp_callback(browser, tenant, user.email)
    query = parse_qs(back.query)
    tampered = query["state"][0][:-4] + "AAAA"
    resp = await browser.get("/sso/oidc/callback",
                             params={"state": tampered, "code": query["code"][0]})
    await _refused(tenant, resp, "sso_invalid_state", "invalid_state", 400)
    # the genuine state works once, and only once
    ok = await browser.get(back.path + "?" + back.query)
    assert ok.status_code == 302, ok.text
    again = await browser.get(back.path + "?" + back.query)
    assert again.status_code == 400 and again.json()["code"] == "sso_state_reused"


async def test_state_from_another_browser_is_refused(
        client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: Idp, tenant: Tenant) -> None:
    await add_connection(tenant, client, idp)
    user = await tenant.add_user()
    back = await idp_callback(browser, tenant, user.email)
    browser.cookies.clear()  # the victim's browser never started this login
    resp = await browser.get(back.path + "?" + back.query)
    await _refused(tenant, resp, "sso_browser_mismatch", "browser_mismatch", 400)


async def test_wrong_nonce_is_refused(client: httpx.AsyncClient, browser: httpx.AsyncClient,
                                      idp: Idp, tenant: Tenant) -> None:
    await add_connection(tenant, client, idp)
    user = await tenant.add_user()
    back = await idp_callback(browser, tenant, user.email)
    await tenant.sql("UPDATE sso_login_states SET nonce = 'not-the-nonce-we-sent'")
    resp = await browser.get(back.path + "?" + back.query)
    await _refused(tenant, resp, "sso_nonce_mismatch", "nonce_mismatch")


async def test_expired_id_token_is_refused(client: httpx.AsyncClient,
                                           browser: httpx.AsyncClient, idp: Idp,
                                           tenant: Tenant) -> None:
    await add_connection(tenant, client, idp, "drift-short")  # id_token lives 10 s
    user = await tenant.add_user()
    back = await idp_callback(browser, tenant, user.email)
    clock.advance(timedelta(minutes=3))  # past exp + leeway, well within the state's 10 min
    resp = await browser.get(back.path + "?" + back.query)
    await _refused(tenant, resp, "sso_id_token_expired", "id_token_expired")


async def test_hs256_id_token_signed_with_the_client_secret_is_refused(
        client: httpx.AsyncClient, browser: httpx.AsyncClient, idp: Idp, tenant: Tenant) -> None:
    conn = await add_connection(tenant, client, idp, "drift-hs")
    assert conn["id_token_signing_algs"] == ["RS256"]
    user = await tenant.add_user()
    resp = await sso_callback(browser, tenant, user.email)
    await _refused(tenant, resp, "sso_alg_not_allowed", "alg_not_allowed")


async def test_issuer_mismatch_is_refused(client: httpx.AsyncClient,
                                          browser: httpx.AsyncClient, idp: Idp,
                                          tenant: Tenant) -> None:
    # a discovery document claiming an issuer its tokens do not carry (mix-up)
    await add_connection(tenant, client, idp, issuer=idp.issuer + "/mixup")
    user = await tenant.add_user()
    resp = await sso_callback(browser, tenant, user.email)
    await _refused(tenant, resp, "sso_issuer_mismatch", "issuer_mismatch")


async def _real_id_token(idp: Idp, client_id: str, nonce: str) -> str:
    """An id_token the IdP really issued to `client_id` (the code flow, run by the test)."""
    provider = await oidc.discover(idp.issuer, [_loopback()])
    verifier = secrets.token_urlsafe(48)
    url = await oidc.authorization_url(
        provider, [_loopback()], client_id=client_id, scopes=["openid", "email"],
        redirect_uri="https://drift.test/sso/oidc/callback", state="s", nonce=nonce,
        code_verifier=verifier)
    back = parse_qs(urlsplit(await through_idp(url, "ada@corp.test")).query)
    return await oidc.exchange_code(provider, [_loopback()], client_id=client_id,
                                    client_secret=idp.secret(client_id),
                                    redirect_uri="https://drift.test/sso/oidc/callback",
                                    code=back["code"][0], code_verifier=verifier)


def _loopback() -> Any:
    import ipaddress

    return ipaddress.ip_network("127.0.0.0/8")


async def test_wrong_audience_is_refused(idp: Idp) -> None:
    token = await _real_id_token(idp, "drift-rs", "n1")
    provider = await oidc.discover(idp.issuer, [_loopback()])
    claims = await oidc.validate_id_token(token, provider=provider, allowed=[_loopback()],
                                          client_id="drift-rs", nonce="n1",
                                          algorithms=["RS256"])
    assert claims["email"] == "ada@corp.test"
    with pytest.raises(oidc.OidcError) as exc:  # the same token, presented to another client
        await oidc.validate_id_token(token, provider=provider, allowed=[_loopback()],
                                     client_id="drift-short", nonce="n1",
                                     algorithms=["RS256"])
    assert exc.value.reason == "audience_mismatch"


async def test_unsigned_id_token_is_refused(idp: Idp) -> None:
    """oidc-provider will not issue alg "none" at all; a forger would: the genuine claims,
    re-sent without a signature, are refused before any key is looked at."""
    token = await _real_id_token(idp, "drift-rs", "n2")
    _, payload, _ = token.split(".")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    forged = f"{header.decode()}.{payload}."
    provider = await oidc.discover(idp.issuer, [_loopback()])
    with pytest.raises(oidc.OidcError) as exc:
        await oidc.validate_id_token(forged, provider=provider, allowed=[_loopback()],
                                     client_id="drift-rs", nonce="n2", algorithms=["RS256"])
    assert exc.value.reason == "alg_not_allowed"
    # and a tampered payload under the genuine signature fails the signature check
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["email"] = "owner@corp.test"
    h, _, sig = token.split(".")
    evil = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(oidc.OidcError) as exc:
        await oidc.validate_id_token(f"{h}.{evil}.{sig}", provider=provider,
                                     allowed=[_loopback()], client_id="drift-rs", nonce="n2",
                                     algorithms=["RS256"])
    assert exc.value.reason == "invalid_signature"


async def test_open_redirects_are_refused(client: httpx.AsyncClient,
                                          browser: httpx.AsyncClient, idp: Idp,
                                          tenant: Tenant) -> None:
    await add_connection(tenant, client, idp)
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "evil"):
        r = await start(browser, tenant, return_to=bad)
        assert r.status_code == 400 and r.json()["code"] == "invalid_return_to", bad
    assert await tenant.sql("SELECT 1 FROM sso_login_states") == []
