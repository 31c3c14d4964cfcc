"""Route-walk recipes for SSO (see tests/recipes.py). SAML connections need no IdP on the
network, so the walk uses them; the OIDC flow has its own tests (tests/sso/test_*.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.core.context import RequestContext
from app.sso.service import SsoIdentity, complete_login
from tests.recipes import AUDIT_EXEMPT, CROSS_TENANT_EXEMPT, Call, Env, audited, cross_tenant

URL = "/api/v1/settings/sso/connections"
ONE = URL + "/{connection_id}"


def certificate_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def saml_body() -> dict[str, Any]:
    return {"protocol": "saml", "name": "Walk IdP", "idp_entity_id": "https://idp.example/x",
            "idp_sso_url": "https://idp.example/sso", "idp_certificate": certificate_pem()}


async def _connection(env: Env) -> dict[str, Any]:
    return await env.created(URL, saml_body())


@audited("POST", URL)
async def create(env: Env) -> httpx.Response:
    return await env.as_owner("POST", URL, json=saml_body())


@audited("PATCH", ONE)
async def update(env: Env) -> httpx.Response:
    conn = await _connection(env)
    return await env.as_owner("PATCH", f"{URL}/{conn['id']}",
                              json={"name": "Renamed", "jit_provisioning": True})


@audited("DELETE", ONE)
async def delete(env: Env) -> httpx.Response:
    conn = await _connection(env)
    return await env.as_owner("DELETE", f"{URL}/{conn['id']}")


@audited("PUT", "/api/v1/settings/sso")
async def enforce(env: Env) -> httpx.Response:
    await _connection(env)
    return await env.as_owner("PUT", "/api/v1/settings/sso", json={"enforced": True})


@audited("POST", "/api/v1/auth/sso/exchange")
async def exchange(env: Env) -> httpx.Response:
    conn = await _connection(env)
    user = await env.tenant.add_user()
    code = await complete_login(env.runtime, RequestContext(), env.tenant.id, SsoIdentity(
        connection_id=UUID(conn["id"]), subject="walk", email=user.email, external_id=None))
    return await env.client.post("/api/v1/auth/sso/exchange", json={"code": code})


@cross_tenant("GET", ONE)
@cross_tenant("PATCH", ONE)
@cross_tenant("DELETE", ONE)
async def other_tenants_connection(env: Env) -> list[Call]:
    conn = await _connection(env)
    url = f"{URL}/{conn['id']}"
    return [("GET", url, {}), ("PATCH", url, {"json": {"name": "Mine now"}}),
            ("DELETE", url, {})]


ACS = "/sso/saml/{connection_id}/acs"
AUDIT_EXEMPT[("POST", ACS)] = (
    "the IdP's POST needs a signed response to a live AuthnRequest; tests/sso/"
    "test_saml_login.py drives it end to end and checks sso.login and sso.login_failed")
CROSS_TENANT_EXEMPT[("POST", ACS)] = (
    "the tenant comes from the RelayState token, not the credential; a connection id that is "
    "not the state's is refused (test_saml_login.py)")


@cross_tenant("GET", "/sso/saml/{connection_id}/metadata")
async def other_tenants_saml_metadata(env: Env) -> list[Call]:
    conn = await _connection(env)
    return [("GET", f"/sso/saml/{conn['id']}/metadata", {"params": {"tenant": env.other.slug}})]
