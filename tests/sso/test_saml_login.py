"""SAML 2.0 sign-in end to end through Drift's routes, against a real IdP (pysaml2's Server
signing with xmlsec1): /sso/start -> the IdP -> POST /sso/saml/{id}/acs -> one-time code ->
session; the SP metadata the IdP admin imports; home-realm discovery by a verified domain."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.sso.saml import SamlConnection
from tests.conftest import Tenant, audit_events, bearer
from tests.domains.conftest import Zone, dns_client, dns_server, zone  # noqa: F401
from tests.sso.conftest import PUBLIC, exchange
from tests.sso.saml_idp import IDP_ENTITY_ID, IDP_SSO_URL, KeyPair, TestIdp, make_keypair

CONNECTIONS = "/api/v1/settings/sso/connections"


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return make_keypair()


async def saml_connection(client: httpx.AsyncClient, t: Tenant, keys: KeyPair,
                          **extra: Any) -> tuple[dict[str, Any], TestIdp]:
    body = {"protocol": "saml", "name": "Okta SAML", "idp_entity_id": IDP_ENTITY_ID,
            "idp_sso_url": IDP_SSO_URL, "idp_certificate": keys.cert_pem,
            "claim_mapping": {"name": "displayName"}, **extra}
    r = await client.post(CONNECTIONS, headers=t.headers, json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    conn = SamlConnection(id=uuid.UUID(out["id"]), tenant_id=t.id,
                          idp_entity_id=IDP_ENTITY_ID, idp_sso_url=IDP_SSO_URL,
                          idp_certificate=keys.cert_pem, groups_attribute="groups",
                          display_name_attribute="displayName")
    return out, TestIdp(conn, PUBLIC, keys)


def _relay(location: str) -> str:
    return parse_qs(urlsplit(location).query)["RelayState"][0]


async def _post_acs(browser: httpx.AsyncClient, conn_id: str, relay: str,
                    response: str) -> httpx.Response:
    return await browser.post(f"/sso/saml/{conn_id}/acs",
                              data={"SAMLResponse": response, "RelayState": relay})


async def test_saml_sign_in_ends_in_a_session(client: httpx.AsyncClient,
                                              browser: httpx.AsyncClient, tenant: Tenant,
                                              keys: KeyPair) -> None:
    member = await tenant.add_user("member", email="ada@saml.example")
    conn, idp = await saml_connection(client, tenant, keys)
    assert conn["acs_url"] == f"{PUBLIC}/sso/saml/{conn['id']}/acs"

    start = await browser.get("/sso/start", params={"tenant": tenant.slug,
                                                    "return_to": "/dashboard"})
    assert start.status_code == 302, start.text
    location = start.headers["location"]
    assert location.startswith(IDP_SSO_URL + "?") and "SAMLRequest=" in location
    response = idp.respond(location, email="ada@saml.example")

    back = await _post_acs(browser, conn["id"], _relay(location), response)
    assert back.status_code == 303, back.text
    assert back.headers["location"].startswith(f"{PUBLIC}/dashboard?sso_code=")
    code = parse_qs(urlsplit(back.headers["location"]).query)["sso_code"][0]
    tokens = await exchange(browser, code)
    assert tokens.status_code == 200, tokens.text
    me = await browser.get("/api/v1/me", headers=bearer(tokens.json()["access_token"]))
    assert me.status_code == 200 and me.json()["user"]["id"] == str(member.id)
    logins = await audit_events(tenant, action="sso.login")
    assert [str(e["actor_id"]) for e in logins] == [str(member.id)]

    # the same POST again (a captured response, the back button): the state is used up
    again = await _post_acs(browser, conn["id"], _relay(location), response)
    assert again.status_code == 400 and again.json()["code"] == "sso_state_reused"


async def test_a_forged_or_foreign_response_is_refused_and_audited(
        client: httpx.AsyncClient, browser: httpx.AsyncClient, tenant: Tenant,
        keys: KeyPair) -> None:
    await tenant.add_user("member", email="bob@saml.example")
    conn, _ = await saml_connection(client, tenant, keys)
    start = await browser.get("/sso/start", params={"tenant": tenant.slug})
    location = start.headers["location"]
    # an IdP with another signing key (an attacker's) answers the same request
    other = SamlConnection(id=uuid.UUID(conn["id"]), tenant_id=tenant.id,
                           idp_entity_id=IDP_ENTITY_ID, idp_sso_url=IDP_SSO_URL,
                           idp_certificate=keys.cert_pem)
    forged = TestIdp(other, PUBLIC, make_keypair()).respond(location, email="bob@saml.example")
    r = await _post_acs(browser, conn["id"], _relay(location), forged)
    assert r.status_code == 401 and r.json()["code"] == "sso_bad_signature", r.text
    failed = await audit_events(tenant, action="sso.login_failed")
    assert [e["metadata"]["reason"] for e in failed] == ["bad_signature"]
    assert await audit_events(tenant, action="sso.login") == []


async def test_sp_metadata_for_the_idp_admin(client: httpx.AsyncClient,
                                             browser: httpx.AsyncClient, tenant: Tenant,
                                             other_tenant: Tenant, keys: KeyPair) -> None:
    conn, _ = await saml_connection(client, tenant, keys)
    r = await browser.get(conn["sp_metadata_url"].removeprefix(PUBLIC))
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/samlmetadata+xml")
    assert conn["sp_entity_id"] in r.text and conn["acs_url"] in r.text
    # another tenant's slug does not find this tenant's connection
    r = await browser.get(f"/sso/saml/{conn['id']}/metadata",
                          params={"tenant": other_tenant.slug})
    assert r.status_code == 404 and r.json()["code"] == "no_sso_connection"


async def test_sign_in_by_email_finds_the_tenant_only_by_a_verified_domain(
        client: httpx.AsyncClient, browser: httpx.AsyncClient,
        dns_client: httpx.AsyncClient, zone: Zone, tenant: Tenant,  # noqa: F811
        keys: KeyPair) -> None:
    await saml_connection(client, tenant, keys)
    domain = f"d{uuid.uuid4().hex[:8]}.example"
    r = await browser.get("/sso/start", params={"email": f"ada@{domain}"})
    assert r.status_code == 404 and r.json()["code"] == "unknown_domain"
    entry = (await dns_client.post("/api/v1/settings/domains", headers=tenant.headers,
                                   json={"domain": domain})).json()
    zone.publish(entry["challenge"]["name"], entry["challenge"]["value"])
    verified = await dns_client.post(f"/api/v1/settings/domains/{entry['id']}/verify",
                                     headers=tenant.headers)
    assert verified.status_code == 200, verified.text
    r = await browser.get("/sso/start", params={"email": f"ada@{domain}"})
    assert r.status_code == 302 and r.headers["location"].startswith(IDP_SSO_URL)
