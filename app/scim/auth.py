"""Authentication for /scim/v2: a tenant SCIM token, verified in the request transaction.

    bearer dcs_... -> SHA-256 -> (tenant, token) from the principal cache or
    drift_api.authenticate_scim_token -> run_tenant_checks (IP allowlist) ->
    `BEGIN; SELECT drift_api.enter_scim_token(...)` (one round trip: re-checks the token is not
    revoked, sets app.tenant_id) -> Tx with actor = the SCIM token.

User credentials (API keys, access tokens) get 401 here, as SCIM tokens do on the REST API.
A refused credential of a known tenant is audited there as `scim.auth_failed` in its own
transaction; one that names no tenant can only go to the application log.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, NoReturn
from uuid import UUID

from fastapi import Depends, Request

from app.auth import repository as auth_repo
from app.core import clock
from app.core.access import (
    as_uuid,
    bearer_token,
    get_ctx,
    get_request_connection,
    get_runtime,
    run_tenant_checks,
)
from app.core.audit_record import record_denial
from app.core.context import Actor, RequestContext
from app.core.errors import Unauthorized
from app.core.principal import Principal
from app.core.runtime import Runtime
from app.core.security import API_KEY_PREFIX, SCIM_TOKEN_PREFIX, decode_access_token, token_hash
from app.core.tx import SAFE_METHODS, Enter, Freshness, RequestTx
from app.scim.repository import tokens as repo

log = logging.getLogger("drift.scim")

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="scim"'}


def _unauthorized(detail: str) -> Unauthorized:
    return Unauthorized(detail, code="scim_unauthorized", headers=_CHALLENGE)


async def _audit_failure(rt: Runtime, ctx: RequestContext, tenant_id: UUID, reason: str,
                         credential_id: UUID | None = None, actor: Actor | None = None) -> None:
    ctx.actor = actor or Actor(type="scim", id=credential_id, credential_id=credential_id)
    await record_denial(rt.db, tenant_id, ctx, "scim.auth_failed", reason=reason,
                        resource_type="scim_token", resource_id=credential_id)


async def _user_credential_tenant(rt: Runtime, token: str) -> tuple[UUID, Actor] | None:
    """The tenant a user credential belongs to (to audit its misuse), without using it."""
    if token.startswith(API_KEY_PREFIX):
        found = await auth_repo.token_tenant(rt.db, token_hash(token), "api_key")
        if found is None:
            return None
        return found["tenant_id"], Actor(type="api_key", credential_id=found["ref_id"])
    claims = decode_access_token(rt.jwt_secret, token)
    if claims is None:
        return None
    return claims.tenant_id, Actor(type="user", id=claims.user_id,
                                   credential_id=claims.session_id)


async def lookup(rt: Runtime, ctx: RequestContext, token: str | None) -> tuple[Principal, Any]:
    if token is None:
        log.info("SCIM request without a bearer token from %s", ctx.ip)
        raise _unauthorized("Send `Authorization: Bearer <SCIM token>`; create a token with "
                            "POST /api/v1/settings/scim.")
    if not token.startswith(SCIM_TOKEN_PREFIX):
        owner = await _user_credential_tenant(rt, token)
        if owner is not None:
            await _audit_failure(rt, ctx, owner[0], "wrong_credential_type", actor=owner[1])
        raise _unauthorized("Only SCIM tokens (dcs_...) work on /scim/v2; API keys and "
                            "access tokens do not.")
    digest = token_hash(token)
    key = ("scim", digest)
    cached = rt.principals.get(key)
    if cached is not None:
        return cached, key
    row = await repo.authenticate(rt.db, digest)
    if row is None:
        log.warning("unknown SCIM token presented from %s", ctx.ip)
        raise _unauthorized("The SCIM token is not valid.")
    if row["status"] != "ok":
        await _audit_failure(rt, ctx, row["tenant_id"], "token_revoked", row["token_id"])
        raise _unauthorized("The SCIM token has been revoked.")
    principal = Principal(tenant_id=row["tenant_id"], credential_type="scim_token",
                          credential_id=row["token_id"])
    rt.principals.put(key, principal)
    return principal, key


def enter_for(principal: Principal, freshness: Freshness | None = None) -> Enter:
    """The SCIM token's way into its tenant (`drift_api.enter_scim_token`)."""
    return Enter("scim_token", (as_uuid(principal.credential_id), as_uuid(principal.tenant_id),
                                clock.now()), freshness)


async def scim_tx(request: Request) -> RequestTx:
    """The request's transaction, the SCIM token verified by its first round trip
    (app.core.tx.RequestTx): inside the first read for GET/HEAD; for a write, in the round trip
    that opens the transaction, opened by the handler's first statement (a create's INSERT
    rides in it, `Tx.run`). A write that answers an error before any statement has its token
    verified before the error goes out (`RequestTx.verify_write`)."""
    rt = get_runtime(request)
    ctx = get_ctx(request)
    principal, key = await lookup(rt, ctx, bearer_token(request))
    ctx.actor = principal.actor
    ctx.tenant_id = principal.tenant_id
    freshness = Freshness()
    await run_tenant_checks(request, rt, principal.tenant_id, freshness)

    async def refused(reason: str) -> NoReturn:
        rt.principals.evict(key)
        await _audit_failure(rt, ctx, principal.tenant_id, "token_revoked",
                             principal.credential_id)
        raise _unauthorized("The SCIM token has been revoked.")

    tx = RequestTx(get_request_connection(request), principal.tenant_id, ctx, principal,
                   enter_for(principal, freshness), refused,
                   read_only=request.method in SAFE_METHODS)
    request.state.principal = principal
    return tx


ScimTx = Annotated[RequestTx, Depends(scim_tx)]
