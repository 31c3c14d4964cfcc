"""SAML 2.0 service provider: metadata, AuthnRequest (HTTP-Redirect), Response (HTTP-POST).

Contract (docs/sso.md, "SAML 2.0"):

- A SAML connection is described by `SamlConnection` (built by the SSO core from its
  connections table): the IdP's entity id, its SSO URL, its signing certificate (PEM) and which
  assertion attributes carry email, groups, display name and (optionally) the external id.
- Drift's URLs for a connection, all under DRIFT_PUBLIC_URL (`sp_urls`):
    SP entity id  {public}/sso/saml/{connection_id}
    ACS (POST)    {public}/sso/saml/{connection_id}/acs
    metadata      {public}/sso/saml/{connection_id}/metadata
  The ACS names the connection, so the route knows which IdP certificate to check with
  before it reads anything from the (untrusted) response.
- `sp_metadata(conn, public_url)` -> SP metadata XML for the IdP administrator.
- `authn_request(conn, public_url, relay_state)` -> `AuthnRedirect(request_id, url)`. The
  caller keeps `request_id` bound to the browser (e.g. in its signed state cookie) and passes
  it back to validation: unsolicited (IdP-initiated) responses are refused.
- `validate_response(conn, public_url, saml_response, request_id)` -> `SamlIdentity`, pure
  (no database). `accept_response(tx, ...)` is what an ACS route calls: it validates and then
  remembers the assertion id until its expiry (`sso_saml_replay`), refusing a second use.
- Every refusal is a `SamlError` with a stable `reason` (REASONS) for the `sso.login_failed`
  audit event; its message is for the log and never contains the document.

Checks, in order (each one's reason in brackets):
 1. the POST value is base64 of a well-formed XML document with no DTD (defusedxml), a
    `samlp:Response` [malformed]; the IdP's status is Success [idp_error];
 2. structure, against signature wrapping [wrapped]: exactly one `saml:Assertion` in the whole
    document, a direct child of the Response; no `EncryptedAssertion` (not configured: SPs get
    plain assertions over TLS) [malformed]; every `ID` in the document is unique; every
    `ds:Signature` is a direct child of the Response or of that Assertion and references
    exactly its parent's ID. So the element whose signature is checked is the element read;
 3. signatures use RSA or ECDSA with SHA-256/384/512 (not SHA-1, not MD5) [bad_signature];
    a signature on the Assertion or on the Response (which then covers the Assertion)
    [unsigned], verified by pysaml2/xmlsec1 with the connection's certificate only (keys in the
    document are ignored: `only_use_keys_in_metadata`) and pysaml2's xmldsig profile checks
    (enveloped, one reference, exclusive c14n, no ds:Object) [bad_signature]; the Issuer is the
    connection's IdP [wrong_issuer];
 4. with the app clock (app.core.clock) and CLOCK_SKEW: Conditions NotBefore [not_yet_valid],
    Conditions and SubjectConfirmationData NotOnOrAfter [expired];
 5. AudienceRestriction names our SP entity id [wrong_audience]; the Response Destination and
    the bearer SubjectConfirmationData Recipient are our ACS URL [wrong_recipient];
    InResponseTo (Response and SubjectConfirmationData) is the request id we issued
    [wrong_in_response_to];
 6. pysaml2's own full AuthnResponse validation over the same document (defence in depth;
    anything it refuses that the checks above let through is [rejected]);
 7. (accept_response) the assertion ID was not used before [replayed].
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID
from xml.sax.saxutils import escape, quoteattr

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.response import UnsolicitedResponse
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS
from saml2.sigver import MissingKey, SignatureError

from app.core import clock
from app.core.tx import Tx
from app.sso import saml_replay

log = logging.getLogger("drift.sso.saml")
# pysaml2 logs whole SAML documents (bearer credentials until they expire) at ERROR and DEBUG
# when a check fails; our own log line names the connection and the reason instead.
logging.getLogger("saml2").setLevel(logging.CRITICAL)

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
_P, _A, _DS = (f"{{{NS[k]}}}" for k in ("samlp", "saml", "ds"))
# Signature and digest algorithms accepted (SHA-1 and MD5 are not: collisions are practical).
SIGNATURE_ALGORITHMS = frozenset({
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
})
DIGEST_ALGORITHMS = frozenset({
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
})
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

# Clocks of IdP and SP differ; two minutes is what Okta and Entra document as tolerable and
# far below an assertion's usual 5-60 minute lifetime.
CLOCK_SKEW = timedelta(minutes=2)
# The decoded Response. Real ones are 4-20 KB; the route's body limit is 1 MiB anyway.
MAX_RESPONSE_BYTES = 512 * 1024

Reason = Literal["malformed", "idp_error", "wrapped", "unsigned", "bad_signature",
                 "wrong_issuer", "not_yet_valid", "expired", "wrong_audience",
                 "wrong_recipient", "wrong_in_response_to", "rejected", "replayed"]


class SamlError(Exception):
    """A refused SAML response; `reason` is stable (audit metadata, problem `code`)."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.message = message


@dataclass(frozen=True)
class SamlConnection:
    """What SAML needs to know about one connection (from the SSO core's table)."""

    id: UUID
    tenant_id: UUID
    idp_entity_id: str
    idp_sso_url: str
    idp_certificate: str  # PEM (or bare base64 DER) of the IdP's signing certificate
    email_attribute: str | None = None  # None: the NameID is the email
    groups_attribute: str | None = None
    display_name_attribute: str | None = None
    external_id_attribute: str | None = None  # None: the NameID


@dataclass(frozen=True)
class SpUrls:
    entity_id: str
    acs_url: str
    metadata_url: str


@dataclass(frozen=True)
class AuthnRedirect:
    request_id: str
    url: str


@dataclass(frozen=True)
class SamlIdentity:
    """A verified sign-in, normalised for the SSO core's `complete_login`."""

    connection_id: UUID
    name_id: str
    name_id_format: str | None
    email: str | None
    external_id: str
    display_name: str | None
    groups: list[str] = field(default_factory=list)
    session_index: str | None = None
    assertion_id: str = ""
    expires_at: datetime | None = None  # the latest NotOnOrAfter (replay memory)


def sp_urls(conn: SamlConnection | UUID, public_url: str) -> SpUrls:
    cid = conn.id if isinstance(conn, SamlConnection) else conn
    base = f"{public_url.rstrip('/')}/sso/saml/{cid}"
    return SpUrls(entity_id=base, acs_url=f"{base}/acs", metadata_url=f"{base}/metadata")


def _cert_body(pem: str) -> str:
    """The base64 DER of a PEM certificate (what metadata's X509Certificate holds)."""
    body = re.sub(r"-----(BEGIN|END) CERTIFICATE-----|\s", "", pem)
    try:
        base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the IdP certificate is not PEM or base64") from None
    return body


def _idp_metadata(conn: SamlConnection) -> str:
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
        ' xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
        f" entityID={quoteattr(conn.idp_entity_id)}>"
        '<md:IDPSSODescriptor WantAuthnRequestsSigned="false"'
        ' protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{escape(_cert_body(conn.idp_certificate))}"
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        f'<md:SingleSignOnService Binding="{BINDING_HTTP_REDIRECT}"'
        f" Location={quoteattr(conn.idp_sso_url)}/>"
        "</md:IDPSSODescriptor></md:EntityDescriptor>")


def xmlsec_binary() -> str:
    path = shutil.which("xmlsec1")
    if path is None:
        raise RuntimeError("xmlsec1 is not installed (`make install` installs it; Debian: "
                           "apt-get install xmlsec1)")
    return path


def _config(conn: SamlConnection, public_url: str) -> SPConfig:
    urls = sp_urls(conn, public_url)
    config = SPConfig()
    config.load({
        "entityid": urls.entity_id,
        "xmlsec_binary": xmlsec_binary(),
        "service": {"sp": {
            "endpoints": {"assertion_consumer_service": [(urls.acs_url, BINDING_HTTP_POST)]},
            "allow_unsolicited": False,
            "authn_requests_signed": False,
            "want_assertions_signed": False,
            "want_response_signed": False,
            "want_assertions_or_response_signed": True,
            "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
        }},
        "metadata": {"inline": [_idp_metadata(conn)]},
        "only_use_keys_in_metadata": True,
        "accepted_time_diff": int(CLOCK_SKEW.total_seconds()),
        "allow_unknown_attributes": True,
    })
    return config


def _client(conn: SamlConnection, public_url: str) -> Saml2Client:
    return Saml2Client(config=_config(conn, public_url))


def sp_metadata(conn: SamlConnection, public_url: str) -> str:
    """The SP metadata document (entity id, ACS with HTTP-POST, NameID format email)."""
    descriptor = entity_descriptor(_config(conn, public_url))
    # pysaml2 advertises every algorithm xmlsec1 knows (md5 included) in an Extensions block;
    # what we accept is documented instead (docs/sso.md)
    descriptor.extensions = None
    return str(descriptor)


def authn_request(conn: SamlConnection, public_url: str, relay_state: str) -> AuthnRedirect:
    """An AuthnRequest (HTTP-Redirect binding) to the IdP; keep `request_id` for validation."""
    client = _client(conn, public_url)
    request_id, info = client.prepare_for_authenticate(
        entityid=conn.idp_entity_id, relay_state=relay_state, binding=BINDING_HTTP_REDIRECT,
        nameid_format=NAMEID_FORMAT_EMAILADDRESS)
    location = dict(info["headers"])["Location"]
    return AuthnRedirect(request_id=str(request_id), url=str(location))


# ---- validation ----

def _parse_time(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SamlError("malformed", f"{what} is not an xs:dateTime") from None
    if parsed.tzinfo is None:
        raise SamlError("malformed", f"{what} has no time zone")
    return parsed


def _decode(saml_response: str) -> tuple[str, ET.Element]:
    try:
        raw = base64.b64decode(saml_response.strip(), validate=False)
    except (binascii.Error, ValueError):
        raise SamlError("malformed", "SAMLResponse is not base64") from None
    if not raw or len(raw) > MAX_RESPONSE_BYTES:
        raise SamlError("malformed", "SAMLResponse is empty or too large")
    try:
        text = raw.decode("utf-8")
        root = fromstring(text, forbid_dtd=True)
    except (UnicodeDecodeError, ET.ParseError, DefusedXmlException):
        raise SamlError("malformed", "SAMLResponse is not a well-formed XML document "
                                     "(or declares a DTD)") from None
    if root.tag != f"{_P}Response":
        raise SamlError("malformed", "the document is not a samlp:Response")
    return text, root


def _structure(root: ET.Element) -> ET.Element:
    """The one Assertion, after the anti-wrapping checks (see the module docstring, 2)."""
    status = root.find("samlp:Status/samlp:StatusCode", NS)
    if status is None or status.get("Value") != STATUS_SUCCESS:
        raise SamlError("idp_error", "the IdP answered with a non-success status "
                                     f"({status.get('Value') if status is not None else None})")
    if root.find(f".//{_A}EncryptedAssertion") is not None:
        raise SamlError("malformed", "encrypted assertions are not supported: turn off "
                                     "assertion encryption for this application at the IdP")
    assertions = list(root.iter(f"{_A}Assertion"))
    if len(assertions) != 1:
        raise SamlError("wrapped" if assertions else "malformed",
                        f"expected exactly one Assertion, found {len(assertions)}")
    assertion = assertions[0]
    if assertion not in list(root):
        raise SamlError("wrapped", "the Assertion is not a direct child of the Response")
    ids: set[str] = set()
    for element in root.iter():
        value = element.get("ID")
        if value is None:
            continue
        if value in ids:
            raise SamlError("wrapped", "an ID occurs twice in the document")
        ids.add(value)
    parents = {child: parent for parent in root.iter() for child in parent}
    for sig in root.iter(f"{_DS}Signature"):
        parent = parents.get(sig)
        if parent is not root and parent is not assertion:
            raise SamlError("wrapped", "a Signature is not on the Response or the Assertion")
        refs = sig.findall("ds:SignedInfo/ds:Reference", NS)
        if len(refs) != 1 or refs[0].get("URI") != f"#{parent.get('ID')}":
            raise SamlError("wrapped", "a Signature does not reference its own element")
        method = sig.find("ds:SignedInfo/ds:SignatureMethod", NS)
        digest = refs[0].find("ds:DigestMethod", NS)
        if (method is None or method.get("Algorithm") not in SIGNATURE_ALGORITHMS
                or digest is None or digest.get("Algorithm") not in DIGEST_ALGORITHMS):
            raise SamlError("bad_signature", "the signature uses a weak or unknown algorithm "
                                             "(SHA-256 or stronger is required)")
    return assertion


def _verify_signatures(client: Saml2Client, text: str, root: ET.Element,
                       assertion: ET.Element) -> None:
    response_signed = root.find("ds:Signature", NS) is not None
    assertion_signed = assertion.find("ds:Signature", NS) is not None
    if not (response_signed or assertion_signed):
        raise SamlError("unsigned", "neither the Assertion nor the Response is signed")
    try:
        # verifies the Response's signature when there is one
        parsed = client.sec.correctly_signed_response(text, must=False)
        if assertion_signed:
            client.sec.check_signature(parsed.assertion[0], f"{_A[1:-1]}:Assertion",
                                       origdoc=text)
    except MissingKey:
        raise SamlError("wrong_issuer", "no key for this issuer: the response does not come "
                                        "from the connection's IdP") from None
    except (SignatureError, Exception) as exc:  # pysaml2 raises bare Exception on some paths
        if isinstance(exc, SamlError):
            raise
        raise SamlError("bad_signature", "the signature does not verify with the connection's "
                                         "IdP certificate") from None


def _text(element: ET.Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _attributes(assertion: ET.Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for attr in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS):
        name = attr.get("Name")
        if not name:
            continue
        values = [v for v in (_text(x) for x in attr.iterfind("saml:AttributeValue", NS)) if v]
        out.setdefault(name, []).extend(values)
        friendly = attr.get("FriendlyName")
        if friendly:
            out.setdefault(friendly, []).extend(values)
    return out


def _semantics(conn: SamlConnection, public_url: str, root: ET.Element,
               assertion: ET.Element, request_id: str) -> datetime:
    """Checks 3 (issuer), 4 and 5; returns the latest NotOnOrAfter (for replay memory)."""
    urls = sp_urls(conn, public_url)
    now = clock.now()
    issuer = _text(assertion.find("saml:Issuer", NS))
    if issuer != conn.idp_entity_id:
        raise SamlError("wrong_issuer", "the Assertion's Issuer is not the connection's IdP")
    response_issuer = _text(root.find("saml:Issuer", NS))
    if response_issuer is not None and response_issuer != conn.idp_entity_id:
        raise SamlError("wrong_issuer", "the Response's Issuer is not the connection's IdP")

    conditions = assertion.find("saml:Conditions", NS)
    if conditions is None:
        raise SamlError("malformed", "the Assertion has no Conditions (audience, lifetime)")
    not_before = _parse_time(conditions.get("NotBefore"), "NotBefore")
    not_after = _parse_time(conditions.get("NotOnOrAfter"), "NotOnOrAfter")
    if not_before is not None and now + CLOCK_SKEW < not_before:
        raise SamlError("not_yet_valid", "the Assertion is not valid yet (NotBefore)")
    if not_after is None:
        raise SamlError("malformed", "the Assertion's Conditions have no NotOnOrAfter")
    if now - CLOCK_SKEW >= not_after:
        raise SamlError("expired", "the Assertion has expired (NotOnOrAfter)")

    restrictions = conditions.findall("saml:AudienceRestriction", NS)
    if not restrictions or any(
            urls.entity_id not in [_text(a) for a in r.findall("saml:Audience", NS)]
            for r in restrictions):
        raise SamlError("wrong_audience", "the Assertion's audience is not this connection's "
                                          f"SP entity id ({urls.entity_id})")

    destination = root.get("Destination")
    if destination is not None and destination != urls.acs_url:
        raise SamlError("wrong_recipient", "the Response's Destination is not this "
                                           f"connection's ACS URL ({urls.acs_url})")
    if root.get("InResponseTo") not in (None, request_id):
        raise SamlError("wrong_in_response_to",
                        "the Response answers another request (InResponseTo)")

    latest = not_after
    confirmed = False
    for sc in assertion.iterfind("saml:Subject/saml:SubjectConfirmation", NS):
        if sc.get("Method") != BEARER:
            continue
        data = sc.find("saml:SubjectConfirmationData", NS)
        if data is None:
            continue
        if data.get("Recipient") != urls.acs_url:
            raise SamlError("wrong_recipient", "the SubjectConfirmation's Recipient is not "
                                               f"this connection's ACS URL ({urls.acs_url})")
        if data.get("InResponseTo") != request_id:
            raise SamlError("wrong_in_response_to",
                            "the Assertion answers another request (InResponseTo)")
        sc_after = _parse_time(data.get("NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter")
        if sc_after is None:
            raise SamlError("malformed", "SubjectConfirmationData has no NotOnOrAfter")
        if now - CLOCK_SKEW >= sc_after:
            raise SamlError("expired", "the SubjectConfirmation has expired (NotOnOrAfter)")
        latest = max(latest, sc_after)
        confirmed = True
    if not confirmed:
        raise SamlError("malformed", "the Assertion has no bearer SubjectConfirmation")
    return latest + CLOCK_SKEW


def _library_check(client: Saml2Client, saml_response: str, request_id: str) -> None:
    try:
        result = client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"})
    except UnsolicitedResponse:
        raise SamlError("wrong_in_response_to", "pysaml2: unsolicited response") from None
    except Exception as exc:
        raise SamlError("rejected", f"pysaml2 refused the response ({type(exc).__name__})"
                        ) from None
    if result is None:
        raise SamlError("rejected", "pysaml2 refused the response")


def _identity(conn: SamlConnection, assertion: ET.Element, expires_at: datetime
              ) -> SamlIdentity:
    name_id_el = assertion.find("saml:Subject/saml:NameID", NS)
    name_id = _text(name_id_el)
    if name_id is None or name_id_el is None:
        raise SamlError("malformed", "the Assertion has no Subject NameID")
    attrs = _attributes(assertion)

    def first(name: str | None) -> str | None:
        if name is None:
            return None
        values = attrs.get(name) or []
        return values[0] if values else None

    email = first(conn.email_attribute) if conn.email_attribute else (
        name_id if "@" in name_id else None)
    external_id = first(conn.external_id_attribute) or name_id
    authn = assertion.find("saml:AuthnStatement", NS)
    return SamlIdentity(
        connection_id=conn.id, name_id=name_id, name_id_format=name_id_el.get("Format"),
        email=email, external_id=external_id,
        display_name=first(conn.display_name_attribute),
        groups=list(attrs.get(conn.groups_attribute, [])) if conn.groups_attribute else [],
        session_index=authn.get("SessionIndex") if authn is not None else None,
        assertion_id=str(assertion.get("ID")), expires_at=expires_at)


def validate_response(conn: SamlConnection, public_url: str, saml_response: str,
                      request_id: str) -> SamlIdentity:
    """The verified identity in a base64 `SAMLResponse` (HTTP-POST), or SamlError. Pure:
    replay is `accept_response`'s job. Runs xmlsec1 (a subprocess): call it from a thread in
    async code (`accept_response` does)."""
    text, root = _decode(saml_response)
    assertion = _structure(root)
    client = _client(conn, public_url)
    _verify_signatures(client, text, root, assertion)
    expires_at = _semantics(conn, public_url, root, assertion, request_id)
    _library_check(client, saml_response, request_id)
    return _identity(conn, assertion, expires_at)


async def accept_response(tx: Tx, conn: SamlConnection, public_url: str, saml_response: str,
                          request_id: str) -> SamlIdentity:
    """validate_response + replay protection, in the caller's tenant transaction (the
    assertion id is remembered only if that transaction commits)."""
    try:
        identity = await asyncio.to_thread(validate_response, conn, public_url, saml_response,
                                           request_id)
        if identity.expires_at is None:
            raise RuntimeError("expected identity.expires_at is not None")
        if not await saml_replay.remember(tx, identity.assertion_id, identity.expires_at,
                                          clock.now()):
            raise SamlError("replayed", "this assertion was already used")
    except SamlError as exc:
        log.info("saml response refused", extra={"connection_id": str(conn.id),
                                                  "reason": exc.reason})
        raise
    return identity

