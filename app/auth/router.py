from __future__ import annotations

import functools
from uuid import UUID

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.auth import schemas, service, throttle
from app.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, LoginIn, RefreshIn, TokenOut
from app.core.access import CtxDep, CurrentPrincipal, RuntimeDep, TenantTx, run_tenant_checks
from app.core.errors import Unauthorized
from app.core.idempotency import idempotent
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit, page_response, parse_time_id_cursor
from app.core.responses import json_response

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/login", response_model=TokenOut,
             summary="Exchange tenant slug, email and password for tokens",
             responses={401: {"description": "Invalid credentials"},
                        429: {"description": "too_many_attempts: sign-in locked for a while "
                                            "after repeated failures (Retry-After)"}})
async def login(body: LoginIn, request: Request, rt: RuntimeDep, ctx: CtxDep) -> Response:
    pair = await service.login(rt, ctx, tenant_slug=body.tenant, email=body.email,
                               password=body.password,
                               gate=functools.partial(run_tenant_checks, request, rt))
    return json_response(pair.as_dict())


@router.post("/auth/refresh", response_model=TokenOut,
             summary="Rotate a refresh token into a new token pair",
             responses={401: {"description": "Invalid, used or expired refresh token"},
                        429: {"description": "too_many_attempts (Retry-After)"}})
async def refresh(body: RefreshIn, request: Request, rt: RuntimeDep, ctx: CtxDep) -> Response:
    await throttle.check_token_guesses(rt, ctx, "refresh")  # 429 after too many bad tokens
    try:
        pair = await service.refresh(rt, ctx, body.refresh_token,
                                     gate=functools.partial(run_tenant_checks, request, rt))
    except Unauthorized as exc:
        if exc.code == "invalid_refresh_token":
            await throttle.token_guess_failed(rt, ctx, "refresh")
        raise
    return json_response(pair.as_dict())


@router.post("/auth/logout", status_code=204, summary="End the current session")
async def logout(principal: CurrentPrincipal, tx: TenantTx) -> Response:
    await service.logout(tx, principal)
    return Response(status_code=204)


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated, tags=["api keys"],
             summary="Create an API key for yourself (the key is shown once)")
@idempotent
async def create_api_key(body: ApiKeyCreate, principal: CurrentPrincipal, tx: TenantTx
                         ) -> Response:
    if principal.user_id is None:
        raise RuntimeError("expected principal.user_id is not None")
    out = await service.create_api_key(tx, user_id=principal.user_id, name=body.name,
                                       expires_at=body.expires_at)
    return json_response(out, 201, headers={"Location": f"/api/v1/api-keys/{out['id']}"})


@router.get("/api-keys", response_model=ApiKeyList, tags=["api keys"],
            summary="List API keys: your own, or (admins) everyone's")
async def list_api_keys(principal: CurrentPrincipal, tx: TenantTx,
                        user_id: UUID | None = Query(None, description="Only this user's keys"),
                        limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Response:
    rows, total = await service.list_api_keys(tx, principal, user_id=user_id,
                                              after=parse_time_id_cursor(cursor), limit=limit)
    return page_response(rows, total, limit, schemas.key_out)


@router.delete("/api-keys/{key_id}", status_code=204, tags=["api keys"],
               summary="Revoke an API key (your own, or any as admin)")
async def revoke_api_key(key_id: UUID, principal: CurrentPrincipal, tx: TenantTx) -> Response:
    await service.revoke_api_key(tx, principal, key_id)
    return Response(status_code=204)
