"""SSO connection settings: admin+, secrets encrypted and never returned, audited, bounded,
SAML certificates checked, and the IdP reached only under the SSRF rules."""

from __future__ import annotations

from typing import Any

import httpx

from app.core.crypto import decrypt
from app.sso.service import SECRET_PURPOSE
from tests.conftest import Tenant, app_with, asgi_client, audit_events
from tests.sso.conftest import Idp, add_connection
from tests.sso.recipes import certificate_pem

URL = "/api/v1/settings/sso/connections"


async def test_oidc_secret_is_encrypted_never_returned_and_changes_audited(
        client: httpx.AsyncClient, idp: Idp, tenant: Tenant) -> None:
    out = await add_connection(tenant, client, idp)
    assert out["client_secret_set"] is True and "client_secret" not in out
    assert out["redirect_uri"] == "https://drift.test/sso/oidc/callback"
    for r in (await client.get(URL, headers=tenant.headers),
              await client.get(f"{URL}/{out['id']}", headers=tenant.headers)):
        assert r.status_code == 200 and idp.secret("drift-rs") not in r.text
    [row] = await tenant.sql("SELECT secret_enc FROM sso_connections")
    assert idp.secret("drift-rs").encode() not in bytes(row["secret_enc"])
    assert decrypt(tenant.rt.secret_key, SECRET_PURPOSE, bytes(row["secret_enc"])).decode() \
        == idp.secret("drift-rs")
    r = await client.patch(f"{URL}/{out['id']}", headers=tenant.headers,
                           json={"client_secret": "rotated-secret", "jit_provisioning": True})
    assert r.status_code == 200 and r.json()["jit_provisioning"] is True
    r = await client.delete(f"{URL}/{out['id']}", headers=tenant.headers)
    assert r.status_code == 204
    events = await audit_events(tenant, resource_type="sso_connection")
    assert [e["action"] for e in events] == ["sso.connection_created",
                                             "sso.connection_updated",
                                             "sso.connection_deleted"]
    assert "rotated-secret" not in str([dict(e) for e in events])
    assert idp.secret("drift-rs") not in str([dict(e) for e in events])
    assert events[1]["metadata"]["changes"]["client_secret"]["to"] == "(replaced)"


async def test_members_cannot_configure_and_limits_hold(
        client: httpx.AsyncClient, idp: Idp, tenant: Tenant) -> None:
    member = await tenant.add_user("member")
    r = await client.get(URL, headers=member.headers)
    assert r.status_code == 403
    body: dict[str, Any] = {"protocol": "oidc", "name": "x", "issuer": idp.issuer,
                            "client_id": "drift-rs"}
    r = await client.post(URL, headers=tenant.headers, json=body)
    assert r.status_code == 400 and r.json()["code"] == "incomplete_connection"
    for _ in range(5):
        await add_connection(tenant, client, idp)
    r = await client.post(URL, headers=tenant.headers,
                          json={**body, "client_secret": "s"})
    assert r.status_code == 409 and r.json()["code"] == "connection_limit"
    assert len(await tenant.sql("SELECT 1 FROM sso_connections")) == 5


async def test_saml_connection_checks_its_certificate(client: httpx.AsyncClient,
                                                      tenant: Tenant) -> None:
    body = {"protocol": "saml", "name": "Entra", "idp_entity_id": "https://sts.example/x/",
            "idp_sso_url": "https://login.example/saml2", "idp_certificate": "not a cert"}
    r = await client.post(URL, headers=tenant.headers, json=body)
    assert r.status_code == 400 and r.json()["code"] == "invalid_certificate"
    assert await tenant.sql("SELECT 1 FROM sso_connections") == []
    r = await client.post(URL, headers=tenant.headers,
                          json={**body, "idp_certificate": certificate_pem()})
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["sp_entity_id"] == f"https://drift.test/sso/saml/{out['id']}"
    assert out["acs_url"] == f"https://drift.test/sso/saml/{out['id']}/acs"
    assert out["sp_metadata_url"].startswith(
        f"https://drift.test/sso/saml/{out['id']}/metadata?tenant=")
    assert len(out["idp_certificate_sha256"]) == 64


async def test_saml_metadata_with_a_doctype_is_refused(client: httpx.AsyncClient,
                                                      tenant: Tenant) -> None:
    xml = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
           '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
           'entityID="&a;"/>')
    r = await client.post(URL, headers=tenant.headers,
                          json={"protocol": "saml", "name": "x", "idp_metadata_xml": xml})
    assert r.status_code == 400 and r.json()["code"] == "invalid_metadata"


async def test_idp_on_an_internal_network_needs_the_allow_list(
        runtime: Any, idp: Idp, tenant: Tenant) -> None:
    app = app_with(runtime, sso_allowed_cidrs=[])
    async with asgi_client(app) as c:
        r = await c.post(URL, headers=tenant.headers, json={
            "protocol": "oidc", "name": "internal", "issuer": idp.issuer,
            "client_id": "drift-rs", "client_secret": "s"})
    assert r.status_code == 400 and r.json()["code"] == "discovery_failed"
    assert "DRIFT_SSO_ALLOWED_CIDRS" in r.json()["detail"]
    assert await tenant.sql("SELECT 1 FROM sso_connections") == []
