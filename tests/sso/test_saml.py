"""SAML 2.0 SP protocol (app/sso/saml.py) against a real IdP (pysaml2's Server, xmlsec1
signatures): metadata, AuthnRequest, and every refusal an attacker or a misconfigured IdP can
cause. Tampering is done on the bytes of real signed responses."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import pytest

from app.core import clock
from app.core.context import Actor, RequestContext
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.sso.saml import (
    SamlConnection,
    SamlError,
    accept_response,
    authn_request,
    sp_metadata,
    sp_urls,
    validate_response,
)
from tests.conftest import Tenant
from tests.sso.saml_idp import IDP_ENTITY_ID, IDP_SSO_URL, KeyPair, TestIdp, make_keypair

PUBLIC = "https://drift.test"
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return make_keypair()


def connection(keys: KeyPair, tenant_id: uuid.UUID | None = None) -> SamlConnection:
    return SamlConnection(
        id=uuid.uuid4(), tenant_id=tenant_id or uuid.uuid4(), idp_entity_id=IDP_ENTITY_ID,
        idp_sso_url=IDP_SSO_URL, idp_certificate=keys.cert_pem, email_attribute="email",
        groups_attribute="groups", display_name_attribute="displayName")


@pytest.fixture
def conn(keys: KeyPair) -> SamlConnection:
    return connection(keys)


@pytest.fixture
def idp(conn: SamlConnection, keys: KeyPair) -> TestIdp:
    return TestIdp(conn, PUBLIC, keys)


def xml(saml_response: str) -> str:
    return base64.b64decode(saml_response).decode()


def b64(document: str) -> str:
    return base64.b64encode(document.encode()).decode()


def refused(conn: SamlConnection, saml_response: str, request_id: str) -> str:
    with pytest.raises(SamlError) as info:
        validate_response(conn, PUBLIC, saml_response, request_id)
    return info.value.reason


def assertion_xml(document: str) -> str:
    match = re.search(r"<ns1:Assertion\b.*?</ns1:Assertion>", document, re.S)
    assert match, document
    return match.group(0)


# ---- metadata and AuthnRequest ----

def test_sp_metadata_names_entity_id_acs_and_email_name_id(conn: SamlConnection) -> None:
    root = ET.fromstring(sp_metadata(conn, PUBLIC))  # noqa: S314 (our own output)
    urls = sp_urls(conn, PUBLIC)
    assert root.get("entityID") == urls.entity_id == f"{PUBLIC}/sso/saml/{conn.id}"
    acs = root.find(f"{MD}SPSSODescriptor/{MD}AssertionConsumerService")
    assert acs is not None
    assert acs.get("Location") == urls.acs_url == f"{PUBLIC}/sso/saml/{conn.id}/acs"
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    name_id = root.find(f"{MD}SPSSODescriptor/{MD}NameIDFormat")
    assert name_id is not None and name_id.text is not None and "emailAddress" in name_id.text
    assert "md5" not in sp_metadata(conn, PUBLIC)


def test_authn_request_is_a_redirect_the_idp_reads(conn: SamlConnection, idp: TestIdp) -> None:
    redirect = authn_request(conn, PUBLIC, relay_state="opaque-state")
    assert redirect.url.startswith(IDP_SSO_URL + "?")
    query = parse_qs(urlsplit(redirect.url).query)
    assert query["RelayState"] == ["opaque-state"]
    request_id, acs, issuer = idp.read_request(redirect.url)
    assert request_id == redirect.request_id
    assert acs == sp_urls(conn, PUBLIC).acs_url
    assert issuer == sp_urls(conn, PUBLIC).entity_id
    # every request gets its own unguessable id
    assert authn_request(conn, PUBLIC, "x").request_id != redirect.request_id


# ---- the happy paths ----

async def test_signed_assertion_is_accepted_once(runtime: Runtime, tenant: Tenant,
                                                 keys: KeyPair) -> None:
    conn = connection(keys, tenant.id)
    idp = TestIdp(conn, PUBLIC, keys)
    redirect = authn_request(conn, PUBLIC, "s")
    response = idp.respond(redirect.url, email="ada@example.com")
    ctx = RequestContext(actor=Actor.system())
    async with own_tx(runtime.db, tenant.id, ctx) as tx:
        identity = await accept_response(tx, conn, PUBLIC, response, redirect.request_id)
    assert identity.name_id == identity.email == identity.external_id == "ada@example.com"
    assert identity.display_name == "Ada Lovelace"
    assert identity.groups == ["eng", "admins"]
    assert identity.session_index and identity.assertion_id
    assert identity.connection_id == conn.id
    rows = await tenant.sql("SELECT assertion_id, expires_at FROM sso_saml_replay")
    assert [r["assertion_id"] for r in rows] == [identity.assertion_id]
    assert rows[0]["expires_at"] == identity.expires_at

    # the same response posted again (a captured POST, a browser back button): replayed
    with pytest.raises(SamlError) as info:
        async with own_tx(runtime.db, tenant.id, ctx) as tx:
            await accept_response(tx, conn, PUBLIC, response, redirect.request_id)
    assert info.value.reason == "replayed"
    assert len(await tenant.sql("SELECT 1 FROM sso_saml_replay")) == 1


def test_signed_response_covering_an_unsigned_assertion_is_accepted(
        conn: SamlConnection, idp: TestIdp) -> None:
    redirect = authn_request(conn, PUBLIC, "s")
    response = idp.respond(redirect.url, sign_assertion=False, sign_response=True)
    identity = validate_response(conn, PUBLIC, response, redirect.request_id)
    assert identity.email == "ada@example.com"


def test_external_id_and_email_from_configured_attributes(keys: KeyPair) -> None:
    conn = SamlConnection(
        id=uuid.uuid4(), tenant_id=uuid.uuid4(), idp_entity_id=IDP_ENTITY_ID,
        idp_sso_url=IDP_SSO_URL, idp_certificate=keys.cert_pem, email_attribute="mail",
        external_id_attribute="objectId")
    idp = TestIdp(conn, PUBLIC, keys)
    redirect = authn_request(conn, PUBLIC, "s")
    response = idp.respond(redirect.url, email="opaque-subject@idp.example",
                           attributes={"mail": ["grace@example.com"], "objectId": ["00u1"]})
    identity = validate_response(conn, PUBLIC, response, redirect.request_id)
    assert identity.email == "grace@example.com"
    assert identity.external_id == "00u1"
    assert identity.name_id == "opaque-subject@idp.example"
    assert identity.groups == [] and identity.display_name is None


# ---- signatures ----

def test_unsigned_assertion_is_refused(conn: SamlConnection, idp: TestIdp) -> None:
    redirect = authn_request(conn, PUBLIC, "s")
    response = idp.respond(redirect.url, sign_assertion=False, sign_response=False)
    assert refused(conn, response, redirect.request_id) == "unsigned"


def test_signature_by_another_key_is_refused(conn: SamlConnection) -> None:
    impostor = TestIdp(conn, PUBLIC, make_keypair("Impostor"))
    redirect = authn_request(conn, PUBLIC, "s")
    response = impostor.respond(redirect.url)
    assert refused(conn, response, redirect.request_id) == "bad_signature"


def test_edited_signed_assertion_is_refused(conn: SamlConnection, idp: TestIdp) -> None:
    redirect = authn_request(conn, PUBLIC, "s")
    document = xml(idp.respond(redirect.url, email="ada@example.com"))
    forged = document.replace(">ada@example.com<", ">mallory@example.com<")
    assert forged != document
    assert refused(conn, b64(forged), redirect.request_id) == "bad_signature"


def test_sha1_signature_is_refused(conn: SamlConnection, idp: TestIdp) -> None:
    redirect = authn_request(conn, PUBLIC, "s")
    response = idp.respond(redirect.url, sign_alg="http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                           digest_alg="http://www.w3.org/2000/09/xmldsig#sha1")
    assert refused(conn, response, redirect.request_id) == "bad_signature"


def test_wrapping_signed_assertion_moved_and_unsigned_one_injected(
        conn: SamlConnection, idp: TestIdp) -> None:
    """XSW: the genuine signed assertion (for ada) is kept, still verifying, inside the
    response's Extensions; an unsigned copy naming mallory takes its place."""
    redirect = authn_request(conn, PUBLIC, "s")
    document = xml(idp.respond(redirect.url, email="ada@example.com"))
    signed = assertion_xml(document)
    evil = re.sub(r"<ns2:Signature\b.*?</ns2:Signature>", "", signed, flags=re.S)
    evil = evil.replace(">ada@example.com<", ">mallory@example.com<")
    evil = re.sub(r'ID="[^"]+"', 'ID="id-evil"', evil, count=1)
    wrapped = document.replace(
        signed, f"<ns0:Extensions>{signed}</ns0:Extensions>{evil}")
    assert refused(conn, b64(wrapped), redirect.request_id) == "wrapped"
    # the same, with the evil assertion first and the signed one after it
    wrapped = document.replace(signed, evil + signed)
    assert refused(conn, b64(wrapped), redirect.request_id) == "wrapped"


def test_wrapping_signature_moved_onto_an_injected_assertion(
        conn: SamlConnection, idp: TestIdp) -> None:
    """XSW: the genuine assertion is removed, its Signature element is carried over into an
    assertion with the same ID but the attacker's subject."""
    redirect = authn_request(conn, PUBLIC, "s")
    document = xml(idp.respond(redirect.url, email="ada@example.com"))
    signed = assertion_xml(document)
    evil = signed.replace(">ada@example.com<", ">mallory@example.com<")
    # same ID twice in the document: the signed original parked in the Status element
    doubled = document.replace(signed, evil).replace(
        "</ns0:Status>", f"<ns0:StatusDetail>{signed}</ns0:StatusDetail></ns0:Status>")
    assert refused(conn, b64(doubled), redirect.request_id) == "wrapped"
    # alone, the carried-over signature does not verify the attacker's content
    assert refused(conn, b64(document.replace(signed, evil)), redirect.request_id
                   ) == "bad_signature"


# ---- conditions ----

def test_expired_assertion_is_refused(conn: SamlConnection, idp: TestIdp) -> None:
    redirect = authn_request(conn, PUBLIC, "s")
    response = idp.respond(redirect.url)  # valid for 5 minutes
    clock.advance(timedelta(minutes=5, seconds=30))  # within the 2-minute skew: accepted
    assert validate_response(conn, PUBLIC, response, redirect.request_id).email
    clock.advance(timedelta(minutes=2))
    assert refused(conn, response, redirect.request_id) == "expired"


def test_assertion_from_the_future_is_refused(conn: SamlConnection, idp: TestIdp) -> None:
    redirect = authn_request(conn, PUBLIC, "s")
    response = idp.respond(redirect.url)
    clock.freeze(clock.now() - timedelta(minutes=10))  # our clock is behind the IdP's
    assert refused(conn, response, redirect.request_id) == "not_yet_valid"


def test_wrong_audience_is_refused(conn: SamlConnection, idp: TestIdp) -> None:
    redirect = authn_request(conn, PUBLIC, "s")
    other = sp_urls(uuid.uuid4(), PUBLIC).entity_id  # another connection's SP entity id
    response = idp.respond(redirect.url, audience=other)
    assert refused(conn, response, redirect.request_id) == "wrong_audience"


def test_wrong_recipient_is_refused(conn: SamlConnection, idp: TestIdp) -> None:
    redirect = authn_request(conn, PUBLIC, "s")
    response = idp.respond(redirect.url, destination="https://evil.example/sso/saml/acs")
    assert refused(conn, response, redirect.request_id) == "wrong_recipient"


def test_response_to_another_request_is_refused(conn: SamlConnection, idp: TestIdp) -> None:
    """A response the IdP made for someone else's login is not accepted for this one."""
    theirs = authn_request(conn, PUBLIC, "s")
    ours = authn_request(conn, PUBLIC, "s")
    response = idp.respond(theirs.url)
    assert refused(conn, response, ours.request_id) == "wrong_in_response_to"
    assert validate_response(conn, PUBLIC, response, theirs.request_id).email


def test_response_from_another_idp_entity_is_refused(keys: KeyPair) -> None:
    conn = SamlConnection(
        id=uuid.uuid4(), tenant_id=uuid.uuid4(), idp_entity_id="https://other-idp.example",
        idp_sso_url=IDP_SSO_URL, idp_certificate=keys.cert_pem)
    idp = TestIdp(conn, PUBLIC, keys)  # same key, but it says it is IDP_ENTITY_ID
    redirect = authn_request(conn, PUBLIC, "s")
    assert refused(conn, idp.respond(redirect.url), redirect.request_id) == "wrong_issuer"


@pytest.mark.parametrize("value", [
    "not base64 at all!",
    base64.b64encode(b"<not-saml/>").decode(),
    base64.b64encode(b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'aaaa'>]>"
                     b"<samlp:Response xmlns:samlp='urn:oasis:names:tc:SAML:2.0:protocol'>"
                     b"&a;</samlp:Response>").decode(),
    "",
])
def test_malformed_input_is_refused(conn: SamlConnection, value: str) -> None:
    assert refused(conn, value, "id-x") == "malformed"
