from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from app.core.access import AdminPrincipal, OwnerPrincipal, TenantTx
from app.core.responses import json_response
from app.teams.ownership import service
from app.teams.ownership.schemas import (
    OwnerIdentityIn,
    OwnerIdentityOut,
    TenantOut,
    TransferOwnership,
    tenant_out,
)

router = APIRouter(prefix="/api/v1/settings", tags=["settings"])


@router.post("/transfer-ownership", response_model=TenantOut,
             summary="Hand the tenant to another active member (owner only); you become admin",
             responses={409: {"description": "already_owner, user_inactive"}})
async def transfer_ownership(body: TransferOwnership, principal: OwnerPrincipal, tx: TenantTx
                             ) -> Response:
    row = await service.transfer_ownership(tx, principal, body.new_owner_id)
    return json_response(tenant_out(row))


@router.get("/owner-identity", response_model=OwnerIdentityOut,
            summary="Whether SCIM may change the owner's sign-in identity (admin+)")
async def get_owner_identity(_: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(await service.get_owner_identity(tx))


@router.put("/owner-identity", response_model=OwnerIdentityOut,
            summary="Let the identity provider manage the owner's userName, emails and "
                    "externalId, or stop it (owner only)")
async def put_owner_identity(body: OwnerIdentityIn, principal: OwnerPrincipal, tx: TenantTx
                             ) -> Response:
    return json_response(await service.set_owner_identity(tx, principal, body.managed_by_idp))
