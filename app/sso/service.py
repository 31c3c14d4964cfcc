"""Single sign-on rules: connections, the login flow, `complete_login`, enforcement.

Flow (docs/sso.md): GET /sso/start?tenant=<slug> -> start_login (state row + browser cookie,
302 to the IdP) -> the IdP -> GET /sso/oidc/callback -> oidc_callback (state taken once, code
exchanged, id_token validated) -> complete_login (match or provision the user, session, audit,
one-time code) -> 302 to DRIFT_PUBLIC_URL + return path with `sso_code` -> the browser app
POSTs it to /api/v1/auth/sso/exchange -> exchange_code (access + refresh token).

`complete_login` is the seam for every protocol: the SAML ACS route validates its response
and calls it with a normalized `SsoIdentity`, exactly as the OIDC callback does.

Tokens: the state and the one-time code are `<tenant id hex>.<32 random bytes>`; the tenant
part only says where to look (under RLS), the random part is what proves anything, and only
its SHA-256 is stored. Failures are audited as sso.login_failed in a transaction of their own
(the request's answer is a 4xx, which rolls its transaction back).
"""

from __future__ import annotations

import hashlib
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID

import asyncpg
from cryptography import x509

from app.auth import repository as auth_repo
from app.auth.service import TokenPair, start_session
from app.core import clock
from app.core.audit_record import record, record_denial
from app.core.context import Actor, RequestContext
from app.core.crypto import InvalidToken, decrypt, encrypt
from app.core.emails import InvalidEmail, canonical_address, canonical_email
from app.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    Unauthorized,
)
from app.core.outbox import emit
from app.core.principal import Role
from app.core.runtime import Runtime
from app.core.security import (
    REFRESH_TOKEN_PREFIX,
    constant_time_equals,
    issue_access_token,
    new_token,
    token_hash,
)
from app.core.tx import Tx, own_tx
from app.sso import oidc, saml
from app.sso import repository as repo
from app.sso.schemas import ClaimMapping, ConnectionIn, ConnectionPatch
from app.teams.invitations.service import supersede_invitations
from app.teams.seats import ensure_seat_available

MAX_CONNECTIONS = 5
STATE_TTL = timedelta(minutes=10)
CODE_TTL = timedelta(seconds=60)
SECRET_PURPOSE = "sso-client-secret"  # noqa: S105 - an HKDF purpose label
BROWSER_COOKIE = "drift_sso"
SUPERSEDED_BY_SSO = "superseded_by_sso"
DEFAULT_SCOPES = ["openid", "email", "profile"]


# ---- tokens that carry their tenant ----

def tenant_token(tenant_id: UUID) -> str:
    return f"{tenant_id.hex}.{secrets.token_urlsafe(32)}"


def token_tenant(token: str) -> UUID | None:
    head, sep, rest = token.partition(".")
    if not sep or len(head) != 32 or not rest:
        return None
    try:
        return UUID(hex=head)
    except ValueError:
        return None


# ---- URLs ----

def _public(rt: Runtime) -> str:
    return rt.settings.public_url.rstrip("/")


def redirect_uri(rt: Runtime) -> str:
    return _public(rt) + "/sso/oidc/callback"


def safe_return_path(value: str | None) -> str:
    """Only a path on our own origin: starts with one `/`, no scheme, host or backslash."""
    if not value:
        return "/"
    if (not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(c) < 33 or ord(c) == 127 for c in value) or len(value) > 1024):
        raise BadRequest("return_to must be a path on this site starting with a single '/'.",
                         code="invalid_return_to")
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        raise BadRequest("return_to must be a path on this site starting with a single '/'.",
                         code="invalid_return_to")
    return value


# ---- connections ----

def _mapping(row: asyncpg.Record) -> ClaimMapping:
    return ClaimMapping(**(row["config"].get("claim_mapping") or {}))


def connection_out(rt: Runtime, row: asyncpg.Record, tenant_slug: str) -> dict[str, Any]:
    cfg = row["config"]
    out: dict[str, Any] = {
        "id": row["id"], "protocol": row["protocol"], "name": row["name"],
        "enabled": row["enabled"], "jit_provisioning": row["jit_provisioning"],
        "default_role": row["default_role"], "claim_mapping": _mapping(row).model_dump(),
        "created_at": row["created_at"], "updated_at": row["updated_at"],
        "login_url": f"{_public(rt)}/sso/start?"
                     + urlencode({"tenant": tenant_slug, "connection": str(row["id"])}),
    }
    if row["protocol"] == "oidc":
        out.update(issuer=cfg.get("issuer"), client_id=cfg.get("client_id"),
                   client_secret_set=row["secret_enc"] is not None,
                   scopes=cfg.get("scopes"), id_token_signing_algs=cfg.get("algs"),
                   redirect_uri=redirect_uri(rt))
    else:
        out.update(idp_entity_id=cfg.get("idp_entity_id"), idp_sso_url=cfg.get("idp_sso_url"),
                   idp_certificate_sha256=cfg.get("idp_certificate_sha256"),
                   idp_metadata_xml_set=bool(cfg.get("idp_metadata_xml")),
                   sp_entity_id=saml.sp_urls(row["id"], _public(rt)).entity_id,
                   acs_url=saml.sp_urls(row["id"], _public(rt)).acs_url,
                   sp_metadata_url=f"{saml.sp_urls(row['id'], _public(rt)).metadata_url}?"
                                   + urlencode({"tenant": tenant_slug}))
    return out


def _certificate_sha256(pem: str) -> str:
    text = pem.strip()
    if "BEGIN CERTIFICATE" not in text:  # the bare base64 body, as metadata carries it
        text = "-----BEGIN CERTIFICATE-----\n" + "".join(text.split()) + \
            "\n-----END CERTIFICATE-----\n"
    try:
        cert = x509.load_pem_x509_certificate(text.encode())
    except ValueError:
        raise BadRequest("idp_certificate is not a PEM X.509 certificate.",
                         code="invalid_certificate") from None
    return hashlib.sha256(cert.public_bytes(_der())).hexdigest()


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


_MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
_DS = "{http://www.w3.org/2000/09/xmldsig#}"


def _saml_metadata(xml: str) -> dict[str, str]:
    """entity id, SSO URL (HTTP-Redirect, else HTTP-POST) and signing certificate from IdP
    metadata. DOCTYPE and entity declarations are refused before parsing (XXE, entity
    expansion)."""
    if "<!DOCTYPE" in xml.upper() or "<!ENTITY" in xml.upper():
        raise BadRequest("The IdP metadata must not contain a DOCTYPE or entity declarations.",
                         code="invalid_metadata")
    try:
        root = ET.fromstring(xml)  # noqa: S314 - no DOCTYPE, so no entities to expand
    except ET.ParseError as exc:
        raise BadRequest(f"The IdP metadata is not XML: {exc}.", code="invalid_metadata"
                         ) from None
    entity = root if root.tag == f"{_MD}EntityDescriptor" else \
        root.find(f".//{_MD}EntityDescriptor")
    idp = entity.find(f"{_MD}IDPSSODescriptor") if entity is not None else None
    if entity is None or idp is None or not entity.get("entityID"):
        raise BadRequest("The IdP metadata has no EntityDescriptor with an IDPSSODescriptor.",
                         code="invalid_metadata")
    sso = {s.get("Binding", "").rsplit(":", 1)[-1]: s.get("Location", "")
           for s in idp.findall(f"{_MD}SingleSignOnService")}
    location = sso.get("HTTP-Redirect") or sso.get("HTTP-POST")
    cert = next((k.findtext(f".//{_DS}X509Certificate") for k in idp.findall(f"{_MD}KeyDescriptor")
                 if k.get("use") in (None, "signing")), None)
    if not location or not cert:
        raise BadRequest("The IdP metadata names no SingleSignOnService (HTTP-Redirect or "
                         "HTTP-POST) or no signing certificate.", code="invalid_metadata")
    return {"idp_entity_id": str(entity.get("entityID")), "idp_sso_url": location,
            "idp_certificate": cert.strip()}


async def _oidc_config(rt: Runtime, cfg: dict[str, Any], body: ConnectionIn | ConnectionPatch
                       ) -> dict[str, Any]:
    issuer = body.issuer if body.issuer is not None else cfg.get("issuer")
    client_id = body.client_id if body.client_id is not None else cfg.get("client_id")
    if not issuer or not client_id:
        raise BadRequest("An OIDC connection needs issuer, client_id and client_secret.",
                         code="incomplete_connection")
    try:
        issuer = oidc.check_issuer_url(issuer)
    except ValueError as exc:
        raise BadRequest(str(exc), code="invalid_issuer") from None
    if issuer != cfg.get("issuer"):  # a new issuer: it must answer discovery now
        try:
            await oidc.discover(issuer, rt.settings.sso_allowed_cidrs, fresh=True)
        except oidc.OidcError as exc:
            raise BadRequest(exc.detail, code="discovery_failed") from None
    scopes = list(dict.fromkeys(body.scopes or cfg.get("scopes") or DEFAULT_SCOPES))
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    algs = list(dict.fromkeys(body.id_token_signing_algs or cfg.get("algs") or
                              list(oidc.DEFAULT_ALGS)))
    return {"issuer": issuer, "client_id": client_id, "scopes": scopes, "algs": algs}


def _saml_config(cfg: dict[str, Any], body: ConnectionIn | ConnectionPatch) -> dict[str, Any]:
    out: dict[str, Any] = {k: cfg[k] for k in ("idp_entity_id", "idp_sso_url", "idp_certificate",
                               "idp_metadata_xml") if k in cfg}
    if body.idp_metadata_xml is not None:
        out = {**_saml_metadata(body.idp_metadata_xml),
               "idp_metadata_xml": body.idp_metadata_xml}
    for key in ("idp_entity_id", "idp_sso_url", "idp_certificate"):
        if getattr(body, key) is not None:
            out[key] = getattr(body, key)
    if not all(out.get(k) for k in ("idp_entity_id", "idp_sso_url", "idp_certificate")):
        raise BadRequest("A SAML connection needs idp_metadata_xml, or idp_entity_id, "
                         "idp_sso_url and idp_certificate.", code="incomplete_connection")
    if urlsplit(out["idp_sso_url"]).scheme != "https":
        raise BadRequest("idp_sso_url must be an https URL.", code="invalid_sso_url")
    out["idp_certificate_sha256"] = _certificate_sha256(out["idp_certificate"])
    return out


def _oidc_only(body: ConnectionIn | ConnectionPatch, protocol: str) -> None:
    other = (("issuer", "client_id", "client_secret", "scopes", "id_token_signing_algs")
             if protocol == "saml" else
             ("idp_metadata_xml", "idp_entity_id", "idp_sso_url", "idp_certificate"))
    given = [k for k in other if getattr(body, k) is not None]
    if given:
        raise BadRequest(f"{', '.join(given)} do not apply to a {protocol} connection.",
                         code="wrong_protocol_field")


def _secret(rt: Runtime, row: asyncpg.Record) -> str | None:
    if row["secret_enc"] is None:
        return None
    try:
        return decrypt(rt.secret_key, SECRET_PURPOSE, bytes(row["secret_enc"])).decode()
    except InvalidToken:
        return None  # DRIFT_SECRET_KEY changed: the secret must be entered again


async def create_connection(rt: Runtime, tx: Tx, body: ConnectionIn) -> asyncpg.Record:
    _oidc_only(body, body.protocol)
    if await repo.count_connections(tx) >= MAX_CONNECTIONS:
        raise Conflict(f"A tenant can have at most {MAX_CONNECTIONS} SSO connections; delete "
                       "one first.", code="connection_limit")
    secret_enc = None
    if body.protocol == "oidc":
        if body.client_secret is None:
            raise BadRequest("An OIDC connection needs issuer, client_id and client_secret.",
                             code="incomplete_connection")
        config = await _oidc_config(rt, {}, body)
        secret_enc = encrypt(rt.secret_key, SECRET_PURPOSE, body.client_secret.encode())
    else:
        config = _saml_config({}, body)
    config["claim_mapping"] = (body.claim_mapping or ClaimMapping()).model_dump()
    row = await repo.insert_connection(
        tx, protocol=body.protocol, name=body.name, enabled=body.enabled, config=config,
        secret_enc=secret_enc, jit_provisioning=body.jit_provisioning,
        default_role=body.default_role, now=clock.now())
    await record(tx, "sso.connection_created", resource_type="sso_connection",
                 resource_id=row["id"], metadata=_audit_view(row))
    return row


def _audit_view(row: asyncpg.Record) -> dict[str, Any]:
    cfg = row["config"]
    return {"protocol": row["protocol"], "name": row["name"], "enabled": row["enabled"],
            "jit_provisioning": row["jit_provisioning"], "default_role": row["default_role"],
            **{k: cfg.get(k) for k in ("issuer", "client_id", "scopes", "algs",
                                       "idp_entity_id", "idp_sso_url",
                                       "idp_certificate_sha256") if k in cfg}}


async def update_connection(rt: Runtime, tx: Tx, connection_id: UUID, body: ConnectionPatch
                            ) -> asyncpg.Record:
    row = await repo.get_connection(tx, connection_id, for_update=True)
    if row is None:
        raise NotFound("No SSO connection with that id.")
    _oidc_only(body, row["protocol"])
    if body.enabled is False:
        await _keep_one_enabled(tx, row)
    cfg = dict(row["config"])
    secret_enc = row["secret_enc"]
    if row["protocol"] == "oidc":
        config = await _oidc_config(rt, cfg, body)
        if body.client_secret is not None:
            secret_enc = encrypt(rt.secret_key, SECRET_PURPOSE, body.client_secret.encode())
    else:
        config = _saml_config(cfg, body)
    config["claim_mapping"] = (body.claim_mapping.model_dump() if body.claim_mapping
                               else cfg.get("claim_mapping") or ClaimMapping().model_dump())
    new = await repo.update_connection(
        tx, connection_id, name=body.name or row["name"],
        enabled=row["enabled"] if body.enabled is None else body.enabled, config=config,
        secret_enc=secret_enc,
        jit_provisioning=(row["jit_provisioning"] if body.jit_provisioning is None
                          else body.jit_provisioning),
        default_role=body.default_role or row["default_role"], now=clock.now())
    before, after = _audit_view(row), _audit_view(new)
    changes = {k: {"from": before.get(k), "to": after.get(k)}
               for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}
    if body.client_secret is not None:
        changes["client_secret"] = {"from": "(hidden)", "to": "(replaced)"}
    await record(tx, "sso.connection_updated", resource_type="sso_connection",
                 resource_id=connection_id, metadata={"changes": changes})
    oidc.clear_caches()
    return new


async def _keep_one_enabled(tx: Tx, row: asyncpg.Record) -> None:
    """While SSO is enforced, the last enabled connection may not go away or be disabled."""
    settings = await repo.get_settings(tx)
    if settings is not None and settings["enforced"] and row["enabled"]:
        others = [c for c in await repo.list_connections(tx)
                  if c["enabled"] and c["id"] != row["id"]]
        if not others:
            raise Conflict("SSO is enforced and this is the last enabled connection: turn "
                           "enforcement off first, or nobody but a break-glass owner could "
                           "sign in.", code="sso_enforced")


async def delete_connection(tx: Tx, connection_id: UUID) -> None:
    """Deleting a connection ends the sessions it started (its users must sign in again)."""
    row = await repo.get_connection(tx, connection_id, for_update=True)
    if row is None:
        raise NotFound("No SSO connection with that id.")
    await _keep_one_enabled(tx, row)
    ended = await repo.revoke_connection_sessions(tx, connection_id, clock.now())
    await repo.delete_connection(tx, connection_id)
    await record(tx, "sso.connection_deleted", resource_type="sso_connection",
                 resource_id=connection_id,
                 metadata={**_audit_view(row), "sessions_revoked": ended})


# ---- enforcement ----

async def get_sso_settings(tx: Tx) -> dict[str, Any]:
    row = await repo.get_settings(tx)
    if row is None:
        return {"enforced": False, "owner_break_glass": True, "updated_at": None}
    return dict(row)


async def put_sso_settings(tx: Tx, *, enforced: bool, owner_break_glass: bool
                           ) -> dict[str, Any]:
    if enforced and not await repo.enabled_connections(tx, "oidc") and \
            not await repo.enabled_connections(tx, "saml"):
        raise Conflict("SSO cannot be enforced without an enabled SSO connection.",
                       code="no_sso_connection")
    before = await get_sso_settings(tx)
    row = await repo.put_settings(tx, enforced=enforced, owner_break_glass=owner_break_glass,
                                  now=clock.now())
    await record(tx, "sso.enforced", resource_type="tenant", resource_id=tx.tenant_id,
                 metadata={"enforced": enforced, "owner_break_glass": owner_break_glass,
                           "was_enforced": before["enforced"],
                           "was_owner_break_glass": before["owner_break_glass"]})
    return dict(row)


async def check_password_credential(rt: Runtime, tx: Tx, user_id: UUID,
                                    session_id: UUID | None) -> None:
    """Registered in app.auth.service.password_checks: runs for a password login (session_id
    None) and for a refresh (the session). While SSO is enforced, only SSO sessions refresh
    and only a break-glass owner signs in with a password (audited each time)."""
    row = await repo.password_policy(tx, user_id, session_id)
    if row is None or not row["enforced"]:
        return
    if session_id is not None and row["sso_connection_id"] is not None:
        return  # an SSO session refreshes as usual
    kind = "login" if session_id is None else "refresh"
    if row["role"] == Role.owner.value and row["owner_break_glass"]:
        await record(tx, "sso.break_glass", resource_type="user", resource_id=user_id,
                     metadata={"kind": kind})
        return
    await record_denial(rt.db, tx.tenant_id, tx.ctx, "sso.password_refused",
                        reason="sso_enforced", resource_type="user", resource_id=user_id,
                        metadata={"kind": kind},
                        dedupe_key=(tx.tenant_id, "sso.password_refused", kind, str(tx.ctx.ip),
                                    user_id))
    raise Forbidden("This organisation requires single sign-on: sign in through your identity "
                    "provider (GET /sso/start?tenant=<slug>).", code="sso_required")


# ---- the login flow ----

@dataclass(frozen=True)
class SsoIdentity:
    """A user as an identity provider vouched for them, protocol-neutral.

    subject: the IdP's stable id (OIDC `sub`, SAML NameID); external_id: matched against SCIM
    externalId first (by default the subject); user_name: matched against SCIM userName next;
    email: matched last, and only if `email_verified` is not False; groups: None when the IdP
    sent none (JIT then gives the connection's default role)."""
    connection_id: UUID
    subject: str
    email: str | None
    external_id: str | None
    user_name: str | None = None
    display_name: str | None = None
    email_verified: bool = True
    groups: tuple[str, ...] | None = None


class LoginFailed(ProblemError):
    status, code, title = 401, "sso_login_failed", "Single sign-on failed"


async def fail(rt: Runtime, ctx: RequestContext, tenant_id: UUID | None, reason: str,
               detail: str, *, connection_id: UUID | None = None, status: int = 401,
               **meta: Any) -> LoginFailed:
    """Record sso.login_failed (own transaction) and build the problem to raise."""
    if tenant_id is not None:
        try:
            async with own_tx(rt.db, tenant_id, ctx) as tx:
                await record(tx, "sso.login_failed", outcome="failure",
                             resource_type="sso_connection", resource_id=connection_id,
                             metadata={"reason": reason, **meta})
        except (asyncpg.PostgresError, OSError):  # an unknown tenant id in a forged token
            pass
    return LoginFailed(detail, code=f"sso_{reason}", status=status)


async def start_login(rt: Runtime, ctx: RequestContext, tenant_id: UUID, *,
                      connection_id: UUID | None, return_to: str) -> tuple[str, str]:
    """(the IdP URL to redirect to, the browser cookie value binding the state)."""
    now = clock.now()
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        if connection_id is not None:
            row = await repo.get_connection(tx, connection_id)
            conns = [row] if row is not None and row["enabled"] else []
        else:
            conns = await repo.enabled_connections(tx, "oidc") + \
                await repo.enabled_connections(tx, "saml")
    if not conns:
        raise NotFound("This organisation has no enabled SSO connection with that id.",
                       code="no_sso_connection")
    if len(conns) > 1:
        raise BadRequest("This organisation has several SSO connections: add "
                         "connection=<id> (each connection's login_url has it).",
                         code="connection_required")
    conn = conns[0]
    state, browser = tenant_token(tenant_id), secrets.token_urlsafe(32)
    if conn["protocol"] == "saml":
        # The state token is the RelayState; the AuthnRequest's id is kept in the state row
        # (as its nonce) and must come back as the response's InResponseTo.
        redirect = saml.authn_request(saml_connection(conn), _public(rt), relay_state=state)
        async with own_tx(rt.db, tenant_id, ctx) as tx:
            await repo.delete_expired_states(tx, now - timedelta(days=1))
            await repo.insert_state(tx, state_hash=token_hash(state), connection_id=conn["id"],
                                    browser_hash=token_hash(browser),
                                    nonce=redirect.request_id, code_verifier="",
                                    return_to=return_to, now=now, expires_at=now + STATE_TTL)
        return redirect.url, browser
    cfg = conn["config"]
    try:
        provider = await oidc.discover(cfg["issuer"], rt.settings.sso_allowed_cidrs)
    except oidc.OidcError as exc:
        raise await fail(rt, ctx, tenant_id, exc.reason, exc.detail,
                         connection_id=conn["id"], status=502) from None
    nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    url = await oidc.authorization_url(
        provider, rt.settings.sso_allowed_cidrs, client_id=cfg["client_id"],
        scopes=cfg["scopes"], redirect_uri=redirect_uri(rt), state=state, nonce=nonce,
        code_verifier=verifier)
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        await repo.delete_expired_states(tx, now - timedelta(days=1))
        await repo.insert_state(tx, state_hash=token_hash(state), connection_id=conn["id"],
                                browser_hash=token_hash(browser), nonce=nonce,
                                code_verifier=verifier, return_to=return_to, now=now,
                                expires_at=now + STATE_TTL)
    return url, browser


async def oidc_callback(rt: Runtime, ctx: RequestContext, tenant_id: UUID, *, state: str,
                        code: str | None, error: str | None, browser: str | None) -> str:
    """Validate the IdP's answer and finish the login; the URL to send the browser to."""
    now = clock.now()
    async with own_tx(rt.db, tenant_id, ctx) as tx:  # single use: marked used, committed
        st = await repo.take_state(tx, token_hash(state))
        if st is not None and st["used_at"] is None:
            await repo.use_state(tx, st["id"], now)
    if st is None:
        raise await fail(rt, ctx, tenant_id, "invalid_state",
                         "This sign-in link is not valid; start again.", status=400)
    conn_id = st["connection_id"]
    if st["used_at"] is not None:
        raise await fail(rt, ctx, tenant_id, "state_reused", "This sign-in was already used; "
                         "start again.", connection_id=conn_id, status=400)
    if st["expires_at"] <= now:
        raise await fail(rt, ctx, tenant_id, "state_expired", "This sign-in took too long; "
                         "start again.", connection_id=conn_id, status=400)
    if browser is None or not constant_time_equals(token_hash(browser), bytes(st["browser_hash"])):
        raise await fail(rt, ctx, tenant_id, "browser_mismatch",
                         "This sign-in was started in another browser; start again.",
                         connection_id=conn_id, status=400)
    if error is not None or not code:
        raise await fail(rt, ctx, tenant_id, "idp_error",
                         "The identity provider refused the sign-in "
                         f"({(error or 'no code')[:100]}).",
                         connection_id=conn_id, idp_error=(error or "")[:100])
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        conn = await repo.get_connection(tx, conn_id)
    if conn is None or not conn["enabled"] or conn["protocol"] != "oidc":
        raise await fail(rt, ctx, tenant_id, "connection_disabled",
                         "This SSO connection is disabled.", connection_id=conn_id)
    cfg, secret = conn["config"], _secret(rt, conn)
    if secret is None:
        raise await fail(rt, ctx, tenant_id, "client_secret_unreadable",
                         "The connection's client secret cannot be read; an admin must enter "
                         "it again.", connection_id=conn_id, status=502)
    allowed = rt.settings.sso_allowed_cidrs
    try:
        provider = await oidc.discover(cfg["issuer"], allowed)
        id_token = await oidc.exchange_code(provider, allowed, client_id=cfg["client_id"],
                                            client_secret=secret, redirect_uri=redirect_uri(rt),
                                            code=code, code_verifier=st["code_verifier"])
        claims = await oidc.validate_id_token(id_token, provider=provider, allowed=allowed,
                                              client_id=cfg["client_id"], nonce=st["nonce"],
                                              algorithms=cfg["algs"])
    except oidc.OidcError as exc:
        raise await fail(rt, ctx, tenant_id, exc.reason, exc.detail,
                         connection_id=conn_id) from None
    mapping = _mapping(conn)
    identity = SsoIdentity(
        connection_id=conn_id, subject=str(claims["sub"]),
        email=_str(claims.get(mapping.email)), external_id=_str(claims.get(mapping.external_id)),
        user_name=_str(claims.get(mapping.user_name)),
        display_name=_str(claims.get(mapping.name)),
        email_verified=claims.get("email_verified") is not False,
        groups=_groups(claims.get(mapping.groups)))
    sso_code = await complete_login(rt, ctx, tenant_id, identity)
    sep = "&" if "?" in st["return_to"] else "?"
    return f"{_public(rt)}{st['return_to']}{sep}{urlencode({'sso_code': sso_code})}"


def saml_connection(row: asyncpg.Record) -> saml.SamlConnection:
    """The SAML module's view of a stored connection. The IdP's NameID is the email unless
    the claim mapping names an attribute other than the OIDC default (`email`)."""
    cfg, mapping = row["config"], _mapping(row)
    return saml.SamlConnection(
        id=row["id"], tenant_id=row["tenant_id"], idp_entity_id=cfg["idp_entity_id"],
        idp_sso_url=cfg["idp_sso_url"], idp_certificate=cfg["idp_certificate"],
        email_attribute=mapping.email if mapping.email != "email" else None,
        groups_attribute=mapping.groups, display_name_attribute=mapping.name,
        external_id_attribute=(mapping.external_id if mapping.external_id != "sub" else None))


async def saml_sp_metadata(rt: Runtime, ctx: RequestContext, tenant_id: UUID,
                           connection_id: UUID) -> str:
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        row = await repo.get_connection(tx, connection_id)
    if row is None or row["protocol"] != "saml":
        raise NotFound("No SAML connection with that id.", code="no_sso_connection")
    return saml.sp_metadata(saml_connection(row), _public(rt))


async def saml_acs(rt: Runtime, ctx: RequestContext, tenant_id: UUID, connection_id: UUID, *,
                   relay_state: str, saml_response: str) -> str:
    """Validate the IdP's POSTed response (RelayState = our state token) and finish the login;
    the URL to send the browser to. The POST comes cross-site from the IdP, so the browser
    cookie (SameSite=Lax) is not sent: the state is single use and the response must answer
    the request id kept in it (InResponseTo), which binds it to this login."""
    now = clock.now()
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        st = await repo.take_state(tx, token_hash(relay_state))
        if st is not None and st["used_at"] is None:
            await repo.use_state(tx, st["id"], now)
    if st is None or st["connection_id"] != connection_id:
        raise await fail(rt, ctx, tenant_id, "invalid_state",
                         "This sign-in is not valid; start again.", status=400)
    if st["used_at"] is not None:
        raise await fail(rt, ctx, tenant_id, "state_reused", "This sign-in was already used; "
                         "start again.", connection_id=connection_id, status=400)
    if st["expires_at"] <= now:
        raise await fail(rt, ctx, tenant_id, "state_expired", "This sign-in took too long; "
                         "start again.", connection_id=connection_id, status=400)
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        row = await repo.get_connection(tx, connection_id)
    if row is None or not row["enabled"] or row["protocol"] != "saml":
        raise await fail(rt, ctx, tenant_id, "connection_disabled",
                         "This SSO connection is disabled.", connection_id=connection_id)
    try:
        async with own_tx(rt.db, tenant_id, ctx) as tx:  # the assertion id is remembered
            verified = await saml.accept_response(tx, saml_connection(row), _public(rt),
                                                  saml_response, st["nonce"])
    except saml.SamlError as exc:
        raise await fail(rt, ctx, tenant_id, exc.reason, f"The SAML response was refused: "
                         f"{exc.message}.", connection_id=connection_id) from None
    identity = SsoIdentity(
        connection_id=connection_id, subject=verified.name_id, email=verified.email,
        external_id=verified.external_id, user_name=verified.email,
        display_name=verified.display_name, groups=tuple(verified.groups) or None)
    sso_code = await complete_login(rt, ctx, tenant_id, identity)
    sep = "&" if "?" in st["return_to"] else "?"
    return f"{_public(rt)}{st['return_to']}{sep}{urlencode({'sso_code': sso_code})}"


def _str(value: Any) -> str | None:
    return value.strip()[:320] if isinstance(value, str) and value.strip() else None


def _groups(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return None
    return tuple(str(v)[:200] for v in value if isinstance(v, str | int))[:500]


async def _match(tx: Tx, identity: SsoIdentity) -> asyncpg.Record | None:
    if identity.external_id:
        row = await repo.user_by_external_id(tx, identity.external_id)
        if row is not None:
            return row
    if identity.user_name:
        row = await repo.user_by_user_name(tx, canonical_address(identity.user_name))
        if row is not None:
            return row
    if identity.email and identity.email_verified:
        return await repo.user_by_email(tx, canonical_address(identity.email))
    return None


async def _provision(tx: Tx, conn: asyncpg.Record, identity: SsoIdentity) -> asyncpg.Record:
    """Just-in-time: a new member, under the seat limit, role from the group mappings."""
    if not identity.email or not identity.email_verified:
        raise _Refused("no_verified_email", "The identity provider sent no verified email "
                       "address, so no account can be created.")
    try:
        email = canonical_email(identity.email)
    except InvalidEmail:
        raise _Refused("invalid_email", "The identity provider sent an email address that is "
                       "not valid.") from None
    role = conn["default_role"]
    if identity.groups:
        role = await repo.mapped_role(tx, list(identity.groups)) or role
    superseded = await supersede_invitations(tx, [email], reason=SUPERSEDED_BY_SSO)
    await ensure_seat_available(tx, locked=superseded.tenant_locked)
    external_id = identity.external_id or identity.subject
    try:
        row = await repo.insert_user(tx, email=email, user_name=identity.user_name or email,
                                     display_name=identity.display_name,
                                     external_id=external_id, role=role, now=clock.now())
    except asyncpg.UniqueViolationError:
        raise _Refused("user_conflict", "A user with this email or user name already exists "
                       "but does not match this identity.") from None
    await emit(tx, "user.provisioned", {
        "user_id": str(row["id"]), "user_name": row["user_name"], "email": email,
        "external_id": external_id, "active": True, "source": "sso"})
    await record(tx, "user.provisioned", resource_type="user", resource_id=row["id"],
                 metadata={"source": "sso", "connection_id": str(conn["id"]), "email": email,
                           "role": role, "external_id": external_id,
                           "invitations_revoked": len(superseded.rows)})
    await superseded.audit(tx, row["id"])
    return row


class _Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


async def complete_login(rt: Runtime, ctx: RequestContext, tenant_id: UUID,
                         identity: SsoIdentity) -> str:
    """Finish a login the protocol layer has verified: match the user (SCIM externalId, then
    userName, then verified email), provision them just in time if the connection allows it,
    start a session marked with the connection, audit sso.login, and return the one-time code
    for POST /api/v1/auth/sso/exchange. Any refusal is audited as sso.login_failed and raised
    as a problem (401; 402 seat_limit_exceeded). Every protocol's callback ends here."""
    now = clock.now()
    reason: tuple[str, str] | None = None
    try:
        async with own_tx(rt.db, tenant_id, ctx) as tx:
            conn = await repo.get_connection(tx, identity.connection_id)
            if conn is None or not conn["enabled"]:
                raise _Refused("connection_disabled", "This SSO connection is disabled.")
            user = await _match(tx, identity)
            if user is None:
                if not conn["jit_provisioning"]:
                    raise _Refused("unknown_user", "There is no account for you in this "
                                   "organisation; ask an admin to invite or provision you.")
                user = await _provision(tx, conn, identity)
            elif not user["active"]:
                raise _Refused("inactive_user", "Your account in this organisation is "
                               "deactivated.")
            ctx.actor = Actor(type="user", id=user["id"], email=user["email"])
            session_id, _pair = await start_session(rt, tx, user["id"])
            ctx.actor.credential_id = session_id
            await repo.mark_sso_session(tx, session_id, conn["id"])
            sso_code = tenant_token(tenant_id)
            await repo.insert_code(tx, code_hash=token_hash(sso_code), session_id=session_id,
                                   now=now, expires_at=now + CODE_TTL)
            await record(tx, "sso.login", resource_type="session", resource_id=session_id,
                         metadata={"connection_id": str(conn["id"]),
                                   "protocol": conn["protocol"], "subject": identity.subject})
            return sso_code
    except _Refused as exc:
        reason = (exc.reason, exc.detail)
    except ProblemError as exc:  # 402 seat_limit_exceeded from JIT
        await fail(rt, ctx, tenant_id, exc.code, exc.detail,
                   connection_id=identity.connection_id, subject=identity.subject)
        raise
    raise await fail(rt, ctx, tenant_id, reason[0], reason[1],
                     connection_id=identity.connection_id, subject=identity.subject,
                     email=identity.email)


async def exchange_code(rt: Runtime, ctx: RequestContext, sso_code: str) -> TokenPair:
    """The one-time code -> the session's tokens (a fresh refresh token: the one made at
    login was never shown to anyone)."""
    invalid = Unauthorized("The sign-in code is not valid, was already used or has expired; "
                           "sign in again.", code="invalid_sso_code")
    tenant_id = token_tenant(sso_code)
    if tenant_id is None:
        raise invalid
    now = clock.now()
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        row = await repo.take_code(tx, token_hash(sso_code))
        if row is None or row["used_at"] is not None or row["expires_at"] <= now \
                or row["revoked_at"] is not None or not row["active"]:
            raise invalid
        await repo.use_code(tx, row["id"], now)
        refresh = new_token(REFRESH_TOKEN_PREFIX)
        await auth_repo.rotate_session(tx, row["session_id"], token_hash(refresh), now)
        access, ttl = issue_access_token(rt.jwt_secret, user_id=row["user_id"],
                                         tenant_id=tenant_id, session_id=row["session_id"],
                                         ttl_seconds=rt.settings.access_token_ttl_seconds)
        ctx.actor = Actor(type="user", id=row["user_id"], email=row["email"],
                          credential_id=row["session_id"])
        await record(tx, "sso.code_exchanged", resource_type="session",
                     resource_id=row["session_id"])
    return TokenPair(access, refresh, ttl)

