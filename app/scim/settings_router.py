"""Admin REST API for SCIM (admin or owner): tokens, group-to-role mappings and the tenant's
custom User attributes."""

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
    GroupMappingList,
    GroupMappingPreview,
    GroupMappingsIn,
    ScimSchemaIn,
    ScimSchemaOut,
    ScimTokenCreate,
    ScimTokenCreated,
    ScimTokenList,
)
from app.scim.service import custom, mappings, tokens

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
