"""A real SAML 2.0 identity provider for the tests: pysaml2's IdP `Server` with a key and
certificate made here, reading Drift's SP metadata and signing real responses (xmlsec1).
Nothing in the protocol is mocked: tests tamper only with the bytes an attacker controls."""

from __future__ import annotations

import base64
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server

from app.sso.saml import SamlConnection, sp_metadata, xmlsec_binary

IDP_ENTITY_ID = "https://idp.example.test/saml/metadata"
IDP_SSO_URL = "https://idp.example.test/saml/sso"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
PASSWORD_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


@dataclass(frozen=True)
class KeyPair:
    key_pem: bytes
    cert_pem: str


def make_keypair(common_name: str = "Test IdP") -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256()))
    return KeyPair(
        key_pem=key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode())


class TestIdp:
    """One IdP that knows one SP (a Drift SAML connection) from that SP's metadata."""

    __test__ = False

    def __init__(self, conn: SamlConnection, public_url: str, keys: KeyPair,
                 lifetime_minutes: int = 5) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="drift-idp-"))
        (self.dir / "key.pem").write_bytes(keys.key_pem)
        (self.dir / "cert.pem").write_text(keys.cert_pem)
        config = IdPConfig()
        config.load({
            "entityid": IDP_ENTITY_ID,
            "xmlsec_binary": xmlsec_binary(),
            "key_file": str(self.dir / "key.pem"),
            "cert_file": str(self.dir / "cert.pem"),
            "metadata": {"inline": [sp_metadata(conn, public_url)]},
            "service": {"idp": {
                "endpoints": {"single_sign_on_service": [(IDP_SSO_URL, BINDING_HTTP_REDIRECT)]},
                "policy": {"default": {"lifetime": {"minutes": lifetime_minutes},
                                       "attribute_restrictions": None,
                                       "name_form": NAME_FORMAT_BASIC}},
                "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            }},
            "allow_unknown_attributes": True,
        })
        self.server = Server(config=config)

    def read_request(self, redirect_url: str) -> tuple[str, str, str]:
        """The AuthnRequest in an HTTP-Redirect URL: (id, ACS URL, SP entity id)."""
        query = parse_qs(urlsplit(redirect_url).query)
        req = self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        msg = req.message
        return str(msg.id), str(msg.assertion_consumer_service_url), str(msg.issuer.text)

    def respond(self, redirect_url: str, *, email: str = "ada@example.com",
                attributes: dict[str, list[str]] | None = None, sign_assertion: bool = True,
                sign_response: bool = False, in_response_to: str | None = None,
                audience: str | None = None, destination: str | None = None,
                sign_alg: str = RSA_SHA256, digest_alg: str = SHA256) -> str:
        """A base64 SAMLResponse answering the AuthnRequest in `redirect_url`, as this IdP
        would POST it to the SP's ACS. Overrides make the IdP answer wrongly on purpose."""
        request_id, acs, sp_entity_id = self.read_request(redirect_url)
        identity: dict[str, Any] = attributes if attributes is not None else {
            "email": [email], "displayName": ["Ada Lovelace"], "groups": ["eng", "admins"]}
        response = self.server.create_authn_response(
            identity=identity,
            in_response_to=in_response_to or request_id,
            destination=destination or acs,
            sp_entity_id=audience or sp_entity_id,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
            authn={"class_ref": PASSWORD_CLASS, "authn_auth": IDP_ENTITY_ID},
            sign_assertion=sign_assertion, sign_response=sign_response,
            sign_alg=sign_alg, digest_alg=digest_alg)
        return base64.b64encode(str(response).encode()).decode()
