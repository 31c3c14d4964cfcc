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

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from uuid import UUID

import asyncpg

from app.auth import repository as auth_repo
from app.auth.service import TokenPair, start_session
from app.core import clock
from app.core.audit_record import record
from app.core.context import Actor, RequestContext
from app.core.crypto import InvalidToken, decrypt
from app.core.emails import InvalidEmail, canonical_address, canonical_email
from app.core.errors import BadRequest, NotFound, ProblemError, Unauthorized
from app.core.outbox import emit
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
from app.sso.schemas import ClaimMapping
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

def public_base(rt: Runtime) -> str:
    return rt.settings.public_url.rstrip("/")


def redirect_uri(rt: Runtime) -> str:
    return public_base(rt) + "/sso/oidc/callback"


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

def claim_mapping_of(row: asyncpg.Record) -> ClaimMapping:
    return ClaimMapping(**(row["config"].get("claim_mapping") or {}))


def _secret(rt: Runtime, row: asyncpg.Record) -> str | None:
    if row["secret_enc"] is None:
        return None
    try:
        return decrypt(rt.secret_key, SECRET_PURPOSE, bytes(row["secret_enc"])).decode()
    except InvalidToken:
        return None  # DRIFT_SECRET_KEY changed: the secret must be entered again



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
        redirect = saml.authn_request(saml_connection(conn), public_base(rt), relay_state=state)
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


async def _take_state(rt: Runtime, ctx: RequestContext, tenant_id: UUID, token: str, *,
                      connection_id: UUID | None = None) -> asyncpg.Record:
    """The login's state row, used up (single use, committed at once): 400 (audited) when it
    is unknown, for another connection, already used or expired."""
    now = clock.now()
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        st = await repo.take_state(tx, token_hash(token))
        if st is not None and st["used_at"] is None:
            await repo.use_state(tx, st["id"], now)
    if st is None or (connection_id is not None and st["connection_id"] != connection_id):
        raise await fail(rt, ctx, tenant_id, "invalid_state",
                         "This sign-in link is not valid; start again.", status=400)
    if st["used_at"] is not None:
        raise await fail(rt, ctx, tenant_id, "state_reused", "This sign-in was already used; "
                         "start again.", connection_id=st["connection_id"], status=400)
    if st["expires_at"] <= now:
        raise await fail(rt, ctx, tenant_id, "state_expired", "This sign-in took too long; "
                         "start again.", connection_id=st["connection_id"], status=400)
    return st


def _return_url(rt: Runtime, st: asyncpg.Record, sso_code: str) -> str:
    """The browser's way back: the login's return path with the one-time code."""
    sep = "&" if "?" in st["return_to"] else "?"
    return f"{public_base(rt)}{st['return_to']}{sep}{urlencode({'sso_code': sso_code})}"


async def oidc_callback(rt: Runtime, ctx: RequestContext, tenant_id: UUID, *, state: str,
                        code: str | None, error: str | None, browser: str | None) -> str:
    """Validate the IdP's answer and finish the login; the URL to send the browser to."""
    st = await _take_state(rt, ctx, tenant_id, state)
    conn_id = st["connection_id"]
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
    mapping = claim_mapping_of(conn)
    identity = SsoIdentity(
        connection_id=conn_id, subject=str(claims["sub"]),
        email=_str(claims.get(mapping.email)), external_id=_str(claims.get(mapping.external_id)),
        user_name=_str(claims.get(mapping.user_name)),
        display_name=_str(claims.get(mapping.name)),
        email_verified=claims.get("email_verified") is not False,
        groups=_groups(claims.get(mapping.groups)))
    return _return_url(rt, st, await complete_login(rt, ctx, tenant_id, identity))


def saml_connection(row: asyncpg.Record) -> saml.SamlConnection:
    """The SAML module's view of a stored connection. The IdP's NameID is the email unless
    the claim mapping names an attribute other than the OIDC default (`email`)."""
    cfg, mapping = row["config"], claim_mapping_of(row)
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
    return saml.sp_metadata(saml_connection(row), public_base(rt))


async def saml_acs(rt: Runtime, ctx: RequestContext, tenant_id: UUID, connection_id: UUID, *,
                   relay_state: str, saml_response: str) -> str:
    """Validate the IdP's POSTed response (RelayState = our state token) and finish the login;
    the URL to send the browser to. The POST comes cross-site from the IdP, so the browser
    cookie (SameSite=Lax) is not sent: the state is single use and the response must answer
    the request id kept in it (InResponseTo), which binds it to this login."""
    st = await _take_state(rt, ctx, tenant_id, relay_state, connection_id=connection_id)
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        row = await repo.get_connection(tx, connection_id)
    if row is None or not row["enabled"] or row["protocol"] != "saml":
        raise await fail(rt, ctx, tenant_id, "connection_disabled",
                         "This SSO connection is disabled.", connection_id=connection_id)
    try:
        async with own_tx(rt.db, tenant_id, ctx) as tx:  # the assertion id is remembered
            verified = await saml.accept_response(tx, saml_connection(row), public_base(rt),
                                                  saml_response, st["nonce"])
    except saml.SamlError as exc:
        raise await fail(rt, ctx, tenant_id, exc.reason, f"The SAML response was refused: "
                         f"{exc.message}.", connection_id=connection_id) from None
    identity = SsoIdentity(
        connection_id=connection_id, subject=verified.name_id, email=verified.email,
        external_id=verified.external_id, user_name=verified.email,
        display_name=verified.display_name, groups=tuple(verified.groups) or None)
    return _return_url(rt, st, await complete_login(rt, ctx, tenant_id, identity))


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

