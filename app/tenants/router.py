"""GET /api/v1/me: the caller, their tenant and their credential."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from app.auth.service import current_user
from app.core.access import CurrentPrincipal, TenantTx
from app.core.responses import json_response
from app.tenants.schemas import MeOut
from app.tenants.service import current_tenant

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.get("/me", response_model=MeOut, summary="The caller, their tenant and credential")
async def me(principal: CurrentPrincipal, tx: TenantTx) -> Response:
    user = await current_user(tx, principal)
    tenant = await current_tenant(tx)
    return json_response({
        "user": {"id": user["id"], "email": user["email"],
                 "name": user["display_name"], "role": user["role"]},
        "tenant": {"id": tenant["id"], "slug": tenant["slug"], "name": tenant["name"],
                   "plan": tenant["plan"]},
        "credential": {"type": principal.credential_type},
    })
