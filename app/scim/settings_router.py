"""Admin REST API for SCIM (admin or owner): tokens, group-to-role mappings, the tenant's
custom User attributes, and the mass-deprovision breaker (its settings and the changes it
holds)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query
from starlette.responses import Response

from app.core.access import AdminPrincipal, TenantTx
from app.core.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    envelope,
    page_response,
    parse_time_id_cursor,
)
from app.core.responses import json_response
from app.scim import schemas
from app.scim.schemas import (
    BreakerSettings,
    GroupMappingList,
    GroupMappingPreview,
    GroupMappingsIn,
    HeldChangeIds,
    HeldChangeList,
    HeldChangeResult,
    ScimSchemaIn,
    ScimSchemaOut,
    ScimTokenCreate,
    ScimTokenCreated,
    ScimTokenList,
)
from app.scim.service import breaker, custom, held, mappings, tokens

router = APIRouter(prefix="/api/v1/settings/scim", tags=["scim settings"])


@router.post("", status_code=201, response_model=ScimTokenCreated,
             summary="Create a SCIM token (admin+; shown once; at most two active)",
             responses={409: {"description": "Two SCIM tokens are already active"}})
async def create_token(principal: AdminPrincipal, tx: TenantTx,
                       body: ScimTokenCreate | None = None) -> Response:
    out = await tokens.create(tx, (body or ScimTokenCreate()).name,
                              created_by=principal.user_id)
    return json_response(out, 201, headers={"Location": f"/api/v1/settings/scim/{out['id']}"})


@router.get("", response_model=ScimTokenList, summary="List SCIM tokens (admin+)")
async def list_tokens(_: AdminPrincipal, tx: TenantTx, limit: Limit = DEFAULT_LIMIT,
                      cursor: Cursor = None) -> Response:
    rows, total = await tokens.list_tokens(tx, after=parse_time_id_cursor(cursor), limit=limit)
    return page_response(rows, total, limit, schemas.token_out)


@router.get("/group-mappings", response_model=GroupMappingList,
            summary="IdP group -> Drift role mappings (admin+)")
async def get_group_mappings(_: AdminPrincipal, tx: TenantTx) -> Response:
    rows = await mappings.list_mappings(tx)
    return json_response(envelope([schemas.mapping_out(r) for r in rows], cursor=None,
                                  has_more=False, total=len(rows)))


@router.put("/group-mappings", response_model=GroupMappingList | GroupMappingPreview,
            summary="Replace the group -> role mappings and apply them (admin+); with "
                    "?dry_run=true only report the role changes they would make")
async def put_group_mappings(body: GroupMappingsIn, _: AdminPrincipal, tx: TenantTx,
                             dry_run: bool = Query(False, description=(
                                 "Change nothing; answer with the role changes (user, from, "
                                 "to) saving these mappings would make now"))) -> Response:
    if dry_run:
        changes = await mappings.preview(tx, body.mappings)
        return json_response(schemas.preview_out(body.mappings, changes))
    rows = await mappings.replace(tx, body.mappings)
    return json_response(envelope([schemas.mapping_out(r) for r in rows], cursor=None,
                                  has_more=False, total=len(rows)))


@router.get("/breaker", response_model=BreakerSettings,
            summary="The mass-deprovision breaker's settings (admin+)")
async def get_breaker(_: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(vars(await held.get_settings(tx)))


@router.put("/breaker", response_model=BreakerSettings,
            summary="Change the mass-deprovision breaker (admin+; fields left out take their "
                    "defaults)")
async def put_breaker(body: BreakerSettings, principal: AdminPrincipal, tx: TenantTx
                      ) -> Response:
    saved = await held.put_settings(tx, breaker.Policy(**body.model_dump()),
                                    by=principal.user_id)
    return json_response(vars(saved))


@router.get("/held", response_model=HeldChangeList,
            summary="SCIM deactivations and deletions held by the breaker, oldest first "
                    "(admin+)")
async def list_held(_: AdminPrincipal, tx: TenantTx, limit: Limit = DEFAULT_LIMIT,
                    cursor: Cursor = None) -> Response:
    rows, total = await held.list_held(tx, after=parse_time_id_cursor(cursor), limit=limit)
    return page_response(rows, total, limit, schemas.held_out)


@router.post("/held/approve", response_model=HeldChangeResult,
             summary="Apply held changes (all, or `ids`): the users lose access now (admin+)",
             responses={404: {"description": "An id is not a held change of this tenant"}})
async def approve_held(principal: AdminPrincipal, tx: TenantTx,
                       body: HeldChangeIds | None = None) -> Response:
    rows = await held.approve(tx, (body or HeldChangeIds()).ids, by=principal.user_id)
    return json_response({"changes": [schemas.held_out(r) for r in rows]})


@router.post("/held/reject", response_model=HeldChangeResult,
             summary="Discard held changes (all, or `ids`): the users keep access; the "
                     "identity provider re-sends on its next sync if it still wants them "
                     "(admin+)",
             responses={404: {"description": "An id is not a held change of this tenant"}})
async def reject_held(principal: AdminPrincipal, tx: TenantTx,
                      body: HeldChangeIds | None = None) -> Response:
    rows = await held.reject(tx, (body or HeldChangeIds()).ids, by=principal.user_id)
    return json_response({"changes": [schemas.held_out(r) for r in rows]})
@router.get("/schema", response_model=ScimSchemaOut,
            summary="The tenant's custom SCIM User attributes (admin+)")
async def get_schema(_: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(schemas.custom_schema_out(await custom.list_attributes(tx)))


@router.put("/schema", response_model=ScimSchemaOut,
            summary="Declare the tenant's custom SCIM User attributes (admin+; the complete "
                    "set: an attribute left out is removed with its stored values)",
            responses={400: {"description": "An attribute is declared twice"},
                       409: {"description": "An attribute's type would change"}})
async def put_schema(body: ScimSchemaIn, _: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(schemas.custom_schema_out(await custom.replace(tx, body.attributes)))


@router.delete("/{token_id:uuid}", status_code=204, summary="Revoke a SCIM token (admin+)")
async def revoke_token(token_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    await tokens.revoke(tx, token_id)
    return Response(status_code=204)
