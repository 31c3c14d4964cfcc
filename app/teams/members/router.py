from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Query
from starlette.responses import Response

from app.core.access import AdminPrincipal, TenantTx
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit, page_response, parse_time_id_cursor
from app.core.principal import Role
from app.core.responses import json_response
from app.teams.members import schemas, service
from app.teams.members.schemas import MemberList, MemberOut, MemberUpdate, SeatCount, TenantRole

router = APIRouter(prefix="/api/v1/members", tags=["members"])


@router.get("", response_model=MemberList,
            summary="List the tenant's members with role, status, last activity, teams (admin+)")
async def list_members(
        _: AdminPrincipal, tx: TenantTx, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
        status: Literal["active", "deactivated"] | None = Query(None, description="Only these"),
        role: TenantRole | None = Query(None, description="Only this role")) -> Response:
    rows, total = await service.list_members(tx, status=status, role=role,
                                             after=parse_time_id_cursor(cursor), limit=limit)
    return page_response(rows, total, limit, schemas.member_out)


# declared before /{user_id} so that "count" is never taken for an id
@router.get("/count", response_model=SeatCount,
            summary="Seats: active members, pending invitations, the limit, what remains "
                    "(admin+)")
async def seat_count(_: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(await service.seat_count(tx))


@router.get("/{user_id:uuid}", response_model=MemberOut, summary="Get a member (admin+)")
async def get_member(user_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(schemas.member_out(await service.get_member(tx, user_id)))


@router.patch("/{user_id:uuid}", response_model=MemberOut,
              summary="Change a member's role: admin, member or viewer (admin+; never the "
                      "owner)", responses={409: {"description": "owner_protected"}})
async def update_member(user_id: UUID, body: MemberUpdate, _: AdminPrincipal, tx: TenantTx
                        ) -> Response:
    row = await service.change_role(tx, user_id, Role(body.role))
    return json_response(schemas.member_out(row))


@router.delete("/{user_id:uuid}", status_code=204,
               summary="Remove a member: deactivate, revoke API keys and sessions (admin+)",
               responses={409: {"description": "owner_protected"}})
async def remove_member(user_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    await service.remove_member(tx, user_id)
    return Response(status_code=204)
