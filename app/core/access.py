"""FastAPI dependencies: authenticate, open the tenant transaction, require a role.

Request path (docs/ARCHITECTURE.md, "A request"): middleware (request id, client IP, request
connection) -> authenticate (principal and tenant, from the per-process cache or one definer
lookup) -> the tenant checks create_app wired (IP allowlist) -> tenant_tx: the request's
transaction (app.core.tx.RequestTx). A write opens `BEGIN; SELECT drift_api.enter_*(...)` here,
one round trip that re-verifies the credential and sets app.tenant_id; a read (GET/HEAD) enters
inside its first statement instead -> role check -> router -> service -> repository -> COMMIT
(by the middleware, before the response) -> response.

The principal cache only spares the lookup query (token -> tenant, user, role): every request
still verifies its credential inside its own transaction, so revocation, deactivation and role
changes apply to the very next request, and a cached entry can never grant anything the
database does not confirm at that moment.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, NoReturn, cast
from uuid import UUID

from fastapi import Depends, Request

from app.core import clock, credentials
from app.core.audit_record import record_denial
from app.core.context import RequestContext
from app.core.errors import Forbidden, Unauthorized
from app.core.principal import Principal, Role
from app.core.runtime import Runtime
from app.core.security import API_KEY_PREFIX, SCIM_TOKEN_PREFIX, decode_access_token, token_hash
from app.core.tx import (
    CREDENTIAL_SQLSTATE,
    SAFE_METHODS,
    Enter,
    Freshness,
    PrincipalChanged,
    RequestConnection,
    RequestTx,
    Tx,
)

_REASONS = {
    "revoked": "The credential has been revoked.",
    "expired": "The credential has expired.",
    "inactive": "The user is deactivated.",
}




def get_runtime(request: Request) -> Runtime:
    return cast(Runtime, request.app.state.runtime)


def get_ctx(request: Request) -> RequestContext:
    state = request.scope.setdefault("state", {})
    ctx = state.get("ctx")
    if ctx is None:
        ctx = RequestContext(method=request.method, path=request.url.path)
        state["ctx"] = ctx
    return cast(RequestContext, ctx)


def get_request_connection(request: Request) -> RequestConnection:
    state = request.scope.setdefault("state", {})
    rconn = state.get("rconn")
    if rconn is None:  # app used without RequestContextMiddleware (should not happen)
        rconn = RequestConnection(get_runtime(request).db.pool)
        state["rconn"] = rconn
    return cast(RequestConnection, rconn)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@functools.lru_cache(maxsize=4096)
def _email_md5(email: str | None) -> str:
    return hashlib.md5((email or "").encode(), usedforsecurity=False).hexdigest()


def as_uuid(value: Any) -> UUID:
    """`value` as a uuid.UUID (asyncpg's own UUID type, or text), unchanged when it is one."""
    return value if isinstance(value, UUID) else UUID(str(value))


def enter_for(principal: Principal, freshness: Freshness | None = None) -> Enter:
    """How this principal's credential enters its tenant: the BEGIN script (one round trip)
    and the gate a read-only statement carries instead (app.core.db.RequestTx).

    The arguments are typed values (UUIDs, a Role, a hex digest, a timestamp), never request
    text; the script inlines them as literals, the gate binds them."""
    now = clock.now()
    email = _email_md5(principal.email)
    role = Role(principal.role).value if principal.role else ""
    cred, tenant = as_uuid(principal.credential_id), as_uuid(principal.tenant_id)
    if principal.credential_type == "api_key":
        return Enter("api_key", (cred, tenant, role, email, now), freshness)
    if principal.credential_type == "session":
        return Enter("session", (cred, tenant, as_uuid(principal.user_id), role, email, now),
                     freshness)
    raise ValueError(f"no enter function for {principal.credential_type}")


async def _deny(rt: Runtime, ctx: RequestContext, principal_like: dict[str, Any], status: str
                ) -> Unauthorized:
    """Record a refused credential of a known tenant (own transaction) and build the 401."""
    ctx.actor.type = principal_like["actor_type"]
    ctx.actor.id = principal_like.get("user_id")
    ctx.actor.email = principal_like.get("email")
    ctx.actor.credential_id = principal_like["credential_id"]
    await record_denial(rt.db, principal_like["tenant_id"], ctx, "auth.denied",
                        reason=f"{principal_like['kind']}_{status}",
                        resource_type=principal_like["kind"],
                        resource_id=principal_like["credential_id"])
    code = "credential" if principal_like["kind"] == "api_key" else "session"
    return Unauthorized(_REASONS.get(status, "The credential is no longer valid."),
                        code=f"{code}_{status}")


async def lookup_principal(rt: Runtime, ctx: RequestContext, token: str
                           ) -> tuple[Principal, Any]:
    """Token -> (Principal, cache key), from the cache or the database (401 if unknown)."""
    if token.startswith(API_KEY_PREFIX):
        digest = token_hash(token)
        key: Any = ("api_key", digest)
        cached = rt.principals.get(key)
        if cached is not None:
            return cached, key
        row = await credentials.authenticate_api_key(rt.db, digest, clock.now())
        if row is None:
            raise Unauthorized("The API key is not valid (unknown, or mistyped).",
                               code="invalid_api_key")
        if row["status"] != "ok":
            raise await _deny(rt, ctx, {"actor_type": "api_key", "kind": "api_key",
                                        "tenant_id": row["tenant_id"],
                                        "credential_id": row["key_id"],
                                        "user_id": row["user_id"], "email": row["email"]},
                              row["status"])
        principal = Principal(tenant_id=row["tenant_id"], credential_type="api_key",
                              credential_id=row["key_id"], user_id=row["user_id"],
                              email=row["email"], role=Role(row["role"]))
    elif token.startswith(SCIM_TOKEN_PREFIX):
        raise Unauthorized("SCIM tokens only work on /scim/v2; use an API key or a session.",
                           code="wrong_credential_type")
    else:
        claims = decode_access_token(rt.jwt_secret, token)
        if claims is None:
            raise Unauthorized("The access token is not valid or has expired.",
                               code="invalid_token")
        key = ("session", claims.tenant_id, claims.session_id, claims.user_id)
        cached = rt.principals.get(key)
        if cached is not None:
            return cached, key
        srow = await credentials.authenticate_session(
            rt.db, claims.tenant_id, claims.session_id, claims.user_id, clock.now())
        if srow is None or srow["status"] != "ok":
            raise await _deny(rt, ctx, {"actor_type": "user", "kind": "session",
                                        "tenant_id": claims.tenant_id,
                                        "credential_id": claims.session_id,
                                        "user_id": claims.user_id},
                              srow["status"] if srow is not None else "revoked")
        principal = Principal(tenant_id=claims.tenant_id, credential_type="session",
                              credential_id=claims.session_id, user_id=claims.user_id,
                              email=srow["email"], role=Role(srow["role"]))
    rt.principals.put(key, principal)
    return principal, key


# Checks that run as soon as a request's tenant is known, before any handler work or request
# transaction: create_app puts the IP allowlist check (and the tenant's request budget) in
# `Runtime.tenant_checks`. Each receives the request, the runtime, the tenant id and the
# request transaction's `Freshness` (None when the caller enters no request transaction) and
# raises a ProblemError to refuse. Every way into a tenant runs them: user credentials
# (authenticate below), SCIM tokens, invitation acceptance, login. With a Freshness, a check
# that decides from a per-process cache may skip its own round trip and leave the proof that
# the cache was current to the request's first statement (app.core.tx.Freshness).
TenantCheck = Callable[[Request, Runtime, UUID, Freshness | None], Awaitable[None]]


async def run_tenant_checks(request: Request, rt: Runtime, tenant_id: UUID,
                            freshness: Freshness | None = None) -> None:
    for check in rt.tenant_checks:
        await check(request, rt, tenant_id, freshness)


async def authenticate(request: Request, freshness: Freshness | None = None) -> Principal:
    """Who the bearer credential names. Verified against the database by tenant_tx (which
    passes the Freshness its statements prove)."""
    rt = get_runtime(request)
    ctx = get_ctx(request)
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("Send `Authorization: Bearer <API key or access token>`.",
                           code="missing_credentials")
    principal, key = await lookup_principal(rt, ctx, token)
    ctx.actor = principal.actor
    ctx.tenant_id = principal.tenant_id
    request.state.token = token
    request.state.principal_cache_key = key
    await run_tenant_checks(request, rt, principal.tenant_id, freshness)
    return principal


def _request_tx(request: Request, principal: Principal, key: Any, freshness: Freshness
                ) -> RequestTx:
    rt = get_runtime(request)
    ctx = get_ctx(request)

    async def refused(reason: str) -> NoReturn:
        rt.principals.evict(key)
        if reason == "changed":
            raise PrincipalChanged()
        raise await _deny(rt, ctx, {
            "actor_type": "api_key" if principal.credential_type == "api_key" else "user",
            "kind": principal.credential_type, "tenant_id": principal.tenant_id,
            "credential_id": principal.credential_id, "user_id": principal.user_id,
            "email": principal.email}, reason)

    return RequestTx(get_request_connection(request), principal.tenant_id, ctx, principal,
                     enter_for(principal, freshness), refused,
                     read_only=request.method in SAFE_METHODS)


async def tenant_tx(request: Request) -> RequestTx:
    """The request's transaction, with the credential verified in the database by its first
    round trip (app.core.db.RequestTx). Write requests open it here, so the role checks that
    follow see a verified principal; read-only requests enter inside their first statement.
    `authenticate` is called here, not declared as a dependency: one dependency level less
    for FastAPI to solve on every request (nothing else depends on it).

    The middleware commits an open transaction before the response starts (status < 400) or
    rolls it back."""
    freshness = Freshness()
    principal = await authenticate(request, freshness)
    tx = _request_tx(request, principal, request.state.principal_cache_key, freshness)
    if not tx.read_only:
        try:
            await tx.open()
        except PrincipalChanged:
            # role or email changed since it was cached: look it up afresh, then enter
            principal, key = await lookup_principal(get_runtime(request), get_ctx(request),
                                                    request.state.token)
            tx = _request_tx(request, principal, key, freshness)
            await tx.open()
    get_ctx(request).actor = principal.actor
    request.state.principal = principal
    return tx


async def current_principal(tx: Tx = Depends(tenant_tx)) -> Principal:
    return cast(Principal, tx.principal)


def require_role(minimum: Role) -> Callable[..., Awaitable[Principal]]:
    """The verified principal, if its role is at least `minimum` (else 403, recorded)."""

    async def dependency(request: Request, tx: Tx = Depends(tenant_tx)) -> Principal:
        principal = cast(Principal, tx.principal)
        if not principal.at_least(minimum) and isinstance(tx, RequestTx):
            # A read enters lazily, so this role may come from the principal cache: let the
            # database confirm it before refusing (a promotion applies at once; a changed
            # role re-runs the request with the principal looked up afresh).
            await tx.verify()
        if not principal.at_least(minimum):
            rt = get_runtime(request)
            await record_denial(rt.db, principal.tenant_id, get_ctx(request), "access.denied",
                                reason="insufficient_role",
                                metadata={"required_role": minimum.value,
                                          "role": principal.role.value if principal.role
                                          else None})
            raise Forbidden(f"This action needs the {minimum.value} role or higher.",
                            code="insufficient_role")
        return principal

    dependency.__name__ = f"require_{minimum.value}"
    return dependency


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
ViewerPrincipal = CurrentPrincipal
MemberPrincipal = Annotated[Principal, Depends(require_role(Role.member))]
AdminPrincipal = Annotated[Principal, Depends(require_role(Role.admin))]
OwnerPrincipal = Annotated[Principal, Depends(require_role(Role.owner))]
TenantTx = Annotated[RequestTx, Depends(tenant_tx)]
async def _runtime_dep(request: Request) -> Runtime:
    return get_runtime(request)


async def _ctx_dep(request: Request) -> RequestContext:
    return get_ctx(request)


# async wrappers: FastAPI runs plain `def` dependencies in a thread pool
RuntimeDep = Annotated[Runtime, Depends(_runtime_dep)]
CtxDep = Annotated[RequestContext, Depends(_ctx_dep)]

__all__ = ["CREDENTIAL_SQLSTATE", "AdminPrincipal", "CtxDep", "CurrentPrincipal",
           "MemberPrincipal", "OwnerPrincipal",
           "RuntimeDep", "TenantCheck", "TenantTx", "ViewerPrincipal",
           "authenticate", "bearer_token", "get_ctx", "get_request_connection", "get_runtime",
           "require_role", "run_tenant_checks", "tenant_tx"]
