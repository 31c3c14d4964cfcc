from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from app.auth import throttle
from app.core.access import AdminPrincipal, CtxDep, RuntimeDep, TenantTx, run_tenant_checks
from app.core.errors import NotFound
from app.core.idempotency import idempotent
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit, page_response, parse_time_id_cursor
from app.core.responses import json_response
from app.teams.invitations import schemas, service
from app.teams.invitations.schemas import (
    InvitationAccept,
    InvitationAccepted,
    InvitationCreate,
    InvitationList,
    InvitationOut,
    InvitationResend,
)

router = APIRouter(prefix="/api/v1/invitations", tags=["invitations"])

Token = Annotated[str, Path(min_length=1, max_length=service.MAX_TOKEN_LENGTH,
                            description="The token from the invitation link")]


@router.post("", status_code=201, response_model=InvitationOut,
             summary="Invite someone by email (admin+); the link goes out by email only",
             responses={402: {"description": "seat_limit_exceeded"},
                        409: {"description": "invitation_exists, already_member, "
                                             "managed_by_scim"}})
@idempotent
async def create_invitation(body: InvitationCreate, principal: AdminPrincipal, tx: TenantTx,
                            rt: RuntimeDep) -> Response:
    row = await service.create_invitation(rt, tx, principal, body)
    return json_response(schemas.invitation_out(row), 201)


@router.get("", response_model=InvitationList,
            summary="List invitations (admin+): pending ones unless `status` says otherwise")
async def list_invitations(
        _: AdminPrincipal, tx: TenantTx, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
        status: Literal["pending", "expired", "accepted", "revoked", "all"] = Query(
            "pending", description="Which invitations")) -> Response:
    rows, total = await service.list_invitations(tx, status=status,
                                                 after=parse_time_id_cursor(cursor),
                                                 limit=limit)
    return page_response(rows, total, limit, schemas.invitation_out)


@router.delete("/{invitation_id}", status_code=204,
               summary="Revoke an invitation (admin+): its link stops working")
async def revoke_invitation(invitation_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    await service.revoke_invitation(tx, invitation_id)
    return Response(status_code=204)


@router.post("/{invitation_id}/resend", response_model=InvitationOut,
             summary="Email the invitation again with a new link and expiry (admin+); the "
                     "old link stops working",
             responses={402: {"description": "seat_limit_exceeded (resending an expired "
                                             "invitation takes a seat again)"}})
async def resend_invitation(invitation_id: UUID, principal: AdminPrincipal, tx: TenantTx,
                            rt: RuntimeDep, body: InvitationResend | None = None) -> Response:
    row = await service.resend_invitation(rt, tx, principal, invitation_id,
                                          body.ttl_seconds if body else None)
    return json_response(schemas.invitation_out(row))


@router.post("/{token}/accept", response_model=InvitationAccepted,
             summary="Accept an invitation (no credentials: the link's token is the "
                     "credential); returns the new member and a session",
             responses={404: {"description": "invitation_not_found"},
                        409: {"description": "invitation_already_accepted, already_member"},
                        410: {"description": "invitation_expired, invitation_revoked, "
                                             "invitation_superseded"},
                        402: {"description": "seat_limit_exceeded"}})
async def accept_invitation(token: Token, request: Request, rt: RuntimeDep, ctx: CtxDep,
                            body: InvitationAccept | None = None) -> Response:
    await throttle.check_token_guesses(rt, ctx, "invitation")  # 429 after too many bad tokens
    try:
        match = await service.resolve_token(rt, token)
    except NotFound:
        await throttle.token_guess_failed(rt, ctx, "invitation")
        raise
    # the tenant is known now: its gates (IP allowlist) run before anything else happens
    await run_tenant_checks(request, rt, match.tenant_id)
    return json_response(await service.accept_invitation(rt, ctx, match, body))
