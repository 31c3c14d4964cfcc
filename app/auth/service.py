"""Login, token refresh and logout, API keys, and deprovisioning."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from app.auth import repository
from app.auth.schemas import key_out
from app.auth.throttle import LoginGuard
from app.core import clock
from app.core.audit_record import record, record_denial
from app.core.context import Actor, RequestContext
from app.core.emails import canonical_address
from app.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized, found
from app.core.outbox import emit
from app.core.principal import Principal, Role
from app.core.runtime import Runtime
from app.core.security import (
    API_KEY_PREFIX,
    REFRESH_TOKEN_PREFIX,
    constant_time_equals,
    display_prefix,
    issue_access_token,
    new_token,
    token_hash,
    verify_password,
)
from app.core.tx import Tx, own_tx

INVALID_LOGIN = "Invalid tenant, email or password."


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def as_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "token_type": "bearer", "expires_in": self.expires_in}


async def start_session(rt: Runtime, tx: Tx, user_id: UUID) -> tuple[UUID, TokenPair]:
    """A new session for a user, in the caller's transaction."""
    now = clock.now()
    refresh = new_token(REFRESH_TOKEN_PREFIX)
    session_id = await repository.insert_session(
        tx, user_id=user_id, refresh_digest=token_hash(refresh),
        expires_at=now + timedelta(seconds=rt.settings.session_ttl_seconds),
        ip=str(tx.ctx.ip) if tx.ctx.ip else None, user_agent=tx.ctx.user_agent, now=now)
    access, ttl = issue_access_token(rt.jwt_secret, user_id=user_id, tenant_id=tx.tenant_id,
                                     session_id=session_id,
                                     ttl_seconds=rt.settings.access_token_ttl_seconds)
    return session_id, TokenPair(access, refresh, ttl)


TenantGate = Callable[[UUID], Awaitable[None]]

# Checks on a password credential, run in the tenant transaction after the password is verified
# (session None) and before a refresh token rotates (its session): each raises a ProblemError
# to refuse. SSO enforcement registers here (app.sso.router), so auth never imports sso.
PasswordCheck = Callable[[Runtime, Tx, UUID, UUID | None], Awaitable[None]]
password_checks: list[PasswordCheck] = []


async def current_user(tx: Tx, principal: Principal) -> asyncpg.Record:
    """The caller's user row; a credential with no user (or a user gone since) is a 401."""
    user = await repository.get_user(tx, principal.user_id) if principal.user_id else None
    if user is None:
        raise Unauthorized()
    return user


async def tenant_for_slug(rt: Runtime, slug: str) -> UUID:
    """The tenant a public (unauthenticated) URL names by its slug, or 404 unknown_tenant."""
    tenant_id = await repository.tenant_id_for_slug(rt.db, slug)
    if tenant_id is None:
        raise NotFound("No organisation with that slug.", code="unknown_tenant")
    return tenant_id


async def token_tenant(rt: Runtime, digest: bytes, kind: str) -> asyncpg.Record | None:
    """The tenant (and the row it refers to) of a single-use token from an email link, by
    the token's digest, before any tenant is entered (drift_api.token_tenant)."""
    return await repository.token_tenant(rt.db, digest, kind)


async def login(rt: Runtime, ctx: RequestContext, *, tenant_slug: str, email: str,
                password: str, gate: TenantGate) -> TokenPair:
    """`gate(tenant_id)` runs the tenant's request checks (the IP allowlist) as soon as the
    tenant is known, before the password is looked at: from outside the list a right password
    and a wrong one get the same 403, so the list also stops password guessing."""
    email = canonical_address(email)  # either form of an internationalised domain signs in
    guard = LoginGuard(rt, ctx, tenant_slug, email)  # 429 before anything is looked up
    await guard.check()
    tenant_id = await repository.tenant_id_for_slug(rt.db, tenant_slug)
    if tenant_id is None:
        await verify_password(None, password)  # same cost as a real attempt
        await guard.failed()
        raise Unauthorized(INVALID_LOGIN, code="invalid_login")
    await gate(tenant_id)
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        user = await repository.get_user_login(tx, email)
    ok = await verify_password(user["password_hash"] if user else None, password)
    if not ok or user is None or not user["active"]:
        reason = ("unknown_email" if user is None else
                  "inactive_user" if ok else "bad_password")
        if user is not None:
            ctx.actor = Actor(type="user", id=user["id"], email=user["email"])
        async with own_tx(rt.db, tenant_id, ctx) as tx:
            await record(tx, "auth.login_failed", outcome="failure",
                         resource_type="user", resource_id=user["id"] if user else None,
                         metadata={"email": email, "reason": reason})
        await guard.failed()
        raise Unauthorized(INVALID_LOGIN, code="invalid_login")
    ctx.actor = Actor(type="user", id=user["id"], email=user["email"])
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        for check in password_checks:
            await check(rt, tx, user["id"], None)
        session_id, pair = await start_session(rt, tx, user["id"])
        ctx.actor.credential_id = session_id
        await record(tx, "auth.login", resource_type="session", resource_id=session_id)
    await guard.succeeded()
    return pair


async def refresh(rt: Runtime, ctx: RequestContext, refresh_token: str, *, gate: TenantGate
                  ) -> TokenPair:
    invalid = Unauthorized("The refresh token is not valid.", code="invalid_refresh_token")
    if not refresh_token.startswith(REFRESH_TOKEN_PREFIX):
        raise invalid
    digest = token_hash(refresh_token)
    found = await repository.token_tenant(rt.db, digest, "refresh")
    if found is None:
        raise invalid
    tenant_id, session_id = found["tenant_id"], found["ref_id"]
    await gate(tenant_id)  # before the token is rotated or its reuse acted on
    reused = False
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        session = await repository.get_session_for_update(tx, session_id)
        if session is None:
            raise invalid
        ctx.actor = Actor(type="user", id=session["user_id"], credential_id=session_id)
        now = clock.now()
        if not constant_time_equals(session["refresh_hash"], digest):
            # An old refresh token came back: it was copied. End the session for everyone.
            if session["revoked_at"] is None:
                await repository.revoke_session(tx, session_id, now)
                await record(tx, "auth.refresh_reused", outcome="denied",
                             resource_type="session", resource_id=session_id)
                reused = True
            else:
                raise invalid
        elif (session["revoked_at"] is not None or session["expires_at"] <= now
              or not session["active"]):
            raise invalid
        else:
            for check in password_checks:
                await check(rt, tx, session["user_id"], session_id)
            new_refresh = new_token(REFRESH_TOKEN_PREFIX)
            await repository.rotate_session(tx, session_id, token_hash(new_refresh), now)
            access, ttl = issue_access_token(
                rt.jwt_secret, user_id=session["user_id"], tenant_id=tenant_id,
                session_id=session_id, ttl_seconds=rt.settings.access_token_ttl_seconds)
            await record(tx, "auth.refresh", resource_type="session", resource_id=session_id)
            return TokenPair(access, new_refresh, ttl)
    if reused:
        raise Unauthorized("This refresh token was already used; the session has been ended.",
                           code="refresh_token_reused")
    raise invalid


async def logout(tx: Tx, principal: Principal) -> None:
    if principal.credential_type != "session":
        raise BadRequest("Logout ends a session. API keys are revoked with "
                         "DELETE /api/v1/api-keys/{id}.", code="not_a_session")
    await repository.revoke_session(tx, principal.credential_id, clock.now())
    await record(tx, "auth.logout", resource_type="session", resource_id=principal.credential_id)


# ---- API keys ----

async def create_api_key(tx: Tx, *, user_id: UUID, name: str, expires_at: datetime | None
                         ) -> dict[str, Any]:
    now = clock.now()
    if expires_at is not None and expires_at <= now:
        raise BadRequest("expires_at must be in the future.", code="invalid_expiry")
    key = new_token(API_KEY_PREFIX)
    row = await repository.insert_api_key(tx, user_id=user_id, name=name,
                                          prefix=display_prefix(key), digest=token_hash(key),
                                          expires_at=expires_at, now=now)
    await record(tx, "apikey.create", resource_id=row["id"],
                 metadata={"name": name, "user_id": str(user_id), "prefix": row["prefix"]})
    return {**key_out(row), "key": key}


async def list_api_keys(tx: Tx, principal: Principal, *, user_id: UUID | None,
                        after: tuple[datetime, UUID] | None, limit: int
                        ) -> tuple[list[asyncpg.Record], int]:
    if not principal.is_admin:
        if user_id is not None and user_id != principal.user_id:
            raise Forbidden("Only admins can list other users' API keys.",
                            code="insufficient_role")
        user_id = principal.user_id
    return await repository.list_api_keys(tx, user_id=user_id, after=after, limit=limit)


async def revoke_api_key(tx: Tx, principal: Principal, key_id: UUID) -> None:
    row = await repository.get_api_key(tx, key_id)
    if row is None or (row["user_id"] != principal.user_id and not principal.is_admin):
        raise NotFound("No API key with that id.")
    await repository.revoke_api_key(tx, key_id, clock.now())
    await record(tx, "apikey.revoke", resource_id=key_id,
                 metadata={"user_id": str(row["user_id"]),
                           "already_revoked": row["revoked_at"] is not None})


# ---- deprovisioning ----

async def deprovision_user(tx: Tx, user_id: UUID, *, source: str) -> dict[str, Any]:
    """Deactivate a user and cut every credential in one transaction (SCIM, members API).

    The user's next request with any old API key or session gets 401: both are checked
    against the database on every request. Data is preserved."""
    user = found(await repository.get_user_for_update(tx, user_id), "No user with that id.")
    if user["role"] == Role.owner.value:
        raise Conflict("The tenant owner cannot be deactivated; transfer ownership first.",
                       code="owner_protected")
    now = clock.now()
    was_active = bool(user["active"])
    await repository.deactivate_user(tx, user_id, now)
    keys = await repository.revoke_user_api_keys(tx, user_id, now)
    sessions = await repository.revoke_user_sessions(tx, user_id, now)
    meta = {"source": source, "email": user["email"], "api_keys_revoked": keys,
            "sessions_revoked": sessions, "was_active": was_active}
    await record(tx, "user.deprovisioned", resource_id=user_id, metadata=meta)
    if was_active:
        await emit(tx, "user.deprovisioned", {
            "user_id": str(user_id), "email": user["email"], "user_name": user["user_name"],
            "deprovisioned_at": now.isoformat(), "source": source,
            "api_keys_revoked": keys, "sessions_revoked": sessions})
    return meta


__all__ = ["PasswordCheck", "TokenPair", "create_api_key", "deprovision_user", "list_api_keys",
           "login", "logout", "password_checks", "record_denial", "refresh", "revoke_api_key",
           "start_session"]
