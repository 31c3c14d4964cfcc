"""FastAPI dependencies: authenticate, open the tenant transaction, require a role.

Request path (DESIGN.md): middleware (request id, client IP, request connection) ->
authenticate (principal and tenant) -> IP allowlist of that tenant (post-auth checks) ->
tenant_tx: `BEGIN; SELECT drift_api.enter_*(...)` in one round trip, which re-verifies the
credential against the database and sets app.tenant_id -> role check on the verified principal
-> router -> service -> repository -> COMMIT (by the middleware, before the response) -> response.

The principal cache only spares the lookup query (token -> tenant, user, role): every request
still verifies its credential inside its own transaction, so revocation, deactivation and role
changes apply to the very next request, and a cached entry can never grant anything the
database does not confirm at that moment.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, cast
from uuid import UUID

import asyncpg
from fastapi import Depends, Request

from app.audit.service import record_denial
from app.auth import repository
from app.auth.principal import Principal, Role
from app.core import clock
from app.core.context import RequestContext
from app.core.db import RequestConnection, Tx
from app.core.errors import Forbidden, Unauthorized
from app.core.runtime import Runtime
from app.core.security import (
    API_KEY_PREFIX,
    SCIM_TOKEN_PREFIX,
    decode_access_token,
    token_hash,
)

_REASONS = {
    "revoked": "The credential has been revoked.",
    "expired": "The credential has expired.",
    "inactive": "The user is deactivated.",
}

CREDENTIAL_SQLSTATE = "DR401"


class PrincipalCache:
    """Bounded LRU of token -> Principal with a TTL (per process)."""

    def __init__(self, maxsize: int = 10_000, ttl: float = 300.0) -> None:
        self.maxsize, self.ttl = maxsize, ttl
        self._data: OrderedDict[Any, tuple[Principal, float]] = OrderedDict()

    def get(self, key: Any) -> Principal | None:
        item = self._data.get(key)
        if item is None:
            return None
        principal, expires = item
        if expires < time.monotonic():
            self._data.pop(key, None)
            return None
        self._data.move_to_end(key)
        return principal

    def put(self, key: Any, principal: Principal) -> None:
        self._data[key] = (principal, time.monotonic() + self.ttl)
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def evict(self, key: Any) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()


principal_cache = PrincipalCache()


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
        rconn = get_runtime(request).db.request_connection()
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


def _email_md5(email: str | None) -> str:
    return hashlib.md5((email or "").encode(), usedforsecurity=False).hexdigest()


def enter_script(principal: Principal) -> str:
    """BEGIN plus the credential check that sets the tenant: one round trip.

    Every interpolated value is produced here from typed values (UUIDs, a Role, a hex digest,
    an ISO timestamp), never from request text, so inlining them is safe."""
    now = clock.now().isoformat()
    email = _email_md5(principal.email)
    role = Role(principal.role).value if principal.role else ""
    if principal.credential_type == "api_key":
        return (f"BEGIN; SELECT drift_api.enter_api_key('{principal.credential_id}', "
                f"'{principal.tenant_id}', '{role}', '{email}', '{now}')")
    if principal.credential_type == "session":
        return (f"BEGIN; SELECT drift_api.enter_session('{principal.credential_id}', "
                f"'{principal.tenant_id}', '{principal.user_id}', '{role}', '{email}', "
                f"'{now}')")
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
        cached = principal_cache.get(key)
        if cached is not None:
            return cached, key
        row = await repository.authenticate_api_key(rt.db, digest, clock.now())
        if row is None:
            raise Unauthorized("The API key is not valid.")
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
        cached = principal_cache.get(key)
        if cached is not None:
            return cached, key
        srow = await repository.authenticate_session(
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
    principal_cache.put(key, principal)
    return principal, key


# Checks that run as soon as a request's tenant is known, before any handler work or request
# transaction: the IP allowlist registers here. Each receives the request, the runtime and the
# tenant id and raises a ProblemError to refuse. Every way into a tenant runs them: user
# credentials (authenticate below), SCIM tokens, invitation acceptance.
TenantCheck = Callable[[Request, Runtime, UUID], Awaitable[None]]
tenant_checks: list[TenantCheck] = []


async def run_tenant_checks(request: Request, rt: Runtime, tenant_id: UUID) -> None:
    for check in tenant_checks:
        await check(request, rt, tenant_id)


async def authenticate(request: Request) -> Principal:
    """Who the bearer credential names. Verified against the database by tenant_tx."""
    rt = get_runtime(request)
    ctx = get_ctx(request)
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("Send `Authorization: Bearer <API key or access token>`.",
                           code="missing_credentials")
    principal, key = await lookup_principal(rt, ctx, token)
    ctx.actor = principal.actor
    request.state.token = token
    request.state.principal_cache_key = key
    await run_tenant_checks(request, rt, principal.tenant_id)
    return principal


async def tenant_tx(request: Request, principal: Principal = Depends(authenticate)) -> Tx:
    """Open the request's tenant transaction, verifying the credential in the same round trip.

    The middleware commits it before the response starts (status < 400) or rolls it back."""
    rt = get_runtime(request)
    ctx = get_ctx(request)
    rconn = get_request_connection(request)
    key = request.state.principal_cache_key
    try:
        conn = await rconn.begin(enter_script(principal))
    except asyncpg.PostgresError as exc:
        if getattr(exc, "sqlstate", None) != CREDENTIAL_SQLSTATE:
            raise
        principal_cache.evict(key)
        reason = str(getattr(exc, "message", "") or exc)
        if reason != "changed":
            raise await _deny(rt, ctx, {
                "actor_type": "api_key" if principal.credential_type == "api_key" else "user",
                "kind": principal.credential_type, "tenant_id": principal.tenant_id,
                "credential_id": principal.credential_id, "user_id": principal.user_id,
                "email": principal.email}, reason) from None
        # role or email changed since it was cached: look it up afresh, then enter
        principal, key = await lookup_principal(rt, ctx, request.state.token)
        conn = await rconn.begin(enter_script(principal))
    ctx.actor = principal.actor
    tx = Tx(conn, principal.tenant_id, ctx, principal)
    request.state.principal = principal
    return tx


async def current_principal(tx: Tx = Depends(tenant_tx)) -> Principal:
    return cast(Principal, tx.principal)


def require_role(minimum: Role) -> Callable[..., Awaitable[Principal]]:
    """The verified principal, if its role is at least `minimum` (else 403, recorded)."""

    async def dependency(request: Request, tx: Tx = Depends(tenant_tx)) -> Principal:
        principal = cast(Principal, tx.principal)
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
TenantTx = Annotated[Tx, Depends(tenant_tx)]
async def _runtime_dep(request: Request) -> Runtime:
    return get_runtime(request)


async def _ctx_dep(request: Request) -> RequestContext:
    return get_ctx(request)


# async wrappers: FastAPI runs plain `def` dependencies in a thread pool
RuntimeDep = Annotated[Runtime, Depends(_runtime_dep)]
CtxDep = Annotated[RequestContext, Depends(_ctx_dep)]

__all__ = ["AdminPrincipal", "CtxDep", "CurrentPrincipal", "MemberPrincipal", "OwnerPrincipal",
           "RuntimeDep", "TenantCheck", "TenantTx", "ViewerPrincipal",
           "authenticate", "bearer_token", "get_ctx", "get_request_connection", "get_runtime",
           "principal_cache", "require_role", "run_tenant_checks", "tenant_checks", "tenant_tx"]
