"""HTTP for the IP allowlist (admin+) and the emergency-reset paths (exempt from the list)."""

from __future__ import annotations

import html
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from starlette.responses import HTMLResponse, Response

from app.auth import service as auth_service
from app.auth import throttle
from app.core.access import (
    AdminPrincipal,
    OwnerPrincipal,
    RuntimeDep,
    TenantTx,
    get_ctx,
    get_request_connection,
    get_runtime,
)
from app.core.errors import NotFound
from app.core.idempotency import idempotent
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit, page_response, parse_time_id_cursor
from app.core.responses import json_response
from app.core.runtime import Runtime
from app.core.tx import Tx, begin_tenant_sql
from app.ipallow import recovery, schemas, service
from app.ipallow.enforcement import allowlist_exempt
from app.ipallow.networks import CompiledList, bypass_list
from app.ipallow.schemas import (
    CheckIn,
    CheckOut,
    EntryCreate,
    EntryDelete,
    EntryList,
    EntryOut,
    EntryUpdate,
    PromoteIn,
    PromoteOut,
    ReportList,
    ResetDone,
    ResetRequested,
)

PREFIX = "/api/v1/settings/ip-allowlist"
router = APIRouter(prefix=PREFIX, tags=["ip allowlist"])

LOCKOUT: dict[int | str, dict[str, Any]] = {
    409: {"description": "would_lock_out_caller (send force), duplicate_cidr or allowlist_full"}}
# what the emailed emergency-reset link answers once it cannot be used
RESET_LINK: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown link"},
    410: {"description": "Used, superseded or expired link"}}


def _bypass(rt: Runtime) -> CompiledList:
    return bypass_list(rt.settings.ip_allowlist_bypass_cidrs)


@router.post("", status_code=201, response_model=EntryOut, responses=LOCKOUT,
             summary="Add a network to the allowlist (admin+)")
@idempotent
async def create_entry(body: EntryCreate, _: AdminPrincipal, tx: TenantTx, rt: RuntimeDep
                       ) -> Response:
    if tx.principal is None:
        raise RuntimeError("expected tx.principal is not None")
    row = await service.create_entry(tx, tx.principal, body, _bypass(rt))
    return json_response(schemas.entry_out(row), 201,
                         headers={"Location": f"{PREFIX}/{row['id']}"})


@router.get("", response_model=EntryList,
            summary="List the allowlist, expired entries included (admin+)")
async def list_entries(_: AdminPrincipal, tx: TenantTx, limit: Limit = DEFAULT_LIMIT,
                       cursor: Cursor = None) -> Response:
    rows, total = await service.list_entries(tx, after=parse_time_id_cursor(cursor),
                                             limit=limit)
    return page_response(rows, total, limit, schemas.entry_out)


@router.post("/check", response_model=CheckOut,
             summary="Would an address be allowed right now, and by which entry? (admin+)")
async def check(body: CheckIn, _: AdminPrincipal, tx: TenantTx, rt: RuntimeDep) -> Response:
    return json_response(await service.check_address(tx, body.ip, _bypass(rt),
                                                     credential=body.credential,
                                                     mode=body.mode))


@router.get("/report", response_model=ReportList,
            summary="Requests the report-only (candidate) entries would have refused (admin+)")
async def report(_: AdminPrincipal, tx: TenantTx, limit: Limit = DEFAULT_LIMIT,
                 cursor: Cursor = None) -> Response:
    rows, total = await service.report(tx, after=parse_time_id_cursor(cursor), limit=limit)
    return page_response(rows, total, limit, schemas.report_out, time_col="last_seen")


@router.post("/promote", response_model=PromoteOut, responses={
                 409: {"description": "no_candidate_entries or would_lock_out_caller"}},
             summary="Make the report-only entries the enforced list (admin+)")
async def promote(_: AdminPrincipal, tx: TenantTx, rt: RuntimeDep,
                  body: Annotated[PromoteIn | None, Body()] = None) -> Response:
    force = body is not None and body.force
    return json_response(await service.promote(tx, force=force, bypass=_bypass(rt)))


# ---- emergency reset (declared before /{entry_id} so the paths read clearly) ----

@router.post("/emergency-reset", status_code=202, response_model=ResetRequested,
             responses={429: {"description": "Too many reset links requested"}},
             summary="Owner: email yourself a one-time link that clears the allowlist "
                     "(works from any address)")
@allowlist_exempt
async def request_emergency_reset(principal: OwnerPrincipal, tx: TenantTx, rt: RuntimeDep
                                  ) -> Response:
    return json_response(await recovery.request_reset(rt, tx, principal), 202)


TokenParam = Annotated[str, Path(max_length=128, description="The token from the email")]


async def reset_token_tx(request: Request, token: TokenParam) -> tuple[Tx, UUID, bytes]:
    """The token's tenant transaction on the request connection (committed by the
    middleware iff the response is < 400). Unknown tokens are a 404."""
    digest = recovery.parse_token(token)
    rt = get_runtime(request)
    ctx = get_ctx(request)
    await throttle.check_token_guesses(rt, ctx, "ip_reset")  # 429 after too many bad tokens
    found = await auth_service.token_tenant(rt, digest, "ip_reset") if digest else None
    if digest is None or found is None:
        await throttle.token_guess_failed(rt, ctx, "ip_reset")
        raise NotFound("This reset link is not valid.", code="reset_token_invalid")
    rconn = get_request_connection(request)
    await rconn.begin(begin_tenant_sql(found["tenant_id"]))
    return Tx(rconn.conn, found["tenant_id"], ctx), found["ref_id"], digest


ResetTokenTx = Annotated[tuple[Tx, UUID, bytes], Depends(reset_token_tx)]


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"robots\" "
        f"content=\"noindex\"><title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>", status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.get("/emergency-reset/{token}", response_class=HTMLResponse,
            responses=RESET_LINK,
            summary="The emailed link: a confirmation page (changes nothing)")
@allowlist_exempt
async def show_emergency_reset(request: Request, token: TokenParam, ttx: ResetTokenTx,
                               rt: RuntimeDep) -> Response:
    tx, reset_id, digest = ttx
    info = await recovery.describe_reset(rt, tx, reset_id, digest)
    action = html.escape(request.url.path)
    return _page(
        "Clear the IP allowlist?",
        f"<p>Tenant <b>{html.escape(info['tenant'])}</b> has {info['entries']} allowlist "
        "entries. Clearing them lets requests with valid credentials in from any address "
        "until an admin adds entries again.</p>"
        f"<form method=\"post\" action=\"{action}\"><button type=\"submit\">Clear the "
        "allowlist</button></form><p>This link works once and expires at "
        f"{info['expires_at']:%Y-%m-%d %H:%M} UTC.</p>")


@router.post("/emergency-reset/{token}", response_model=ResetDone,
             responses=RESET_LINK,
             summary="Clear the allowlist with the emailed one-time token (no credentials)")
@allowlist_exempt
async def complete_emergency_reset(request: Request, token: TokenParam, ttx: ResetTokenTx,
                                   rt: RuntimeDep) -> Response:
    tx, reset_id, digest = ttx
    out = await recovery.complete_reset(rt, tx, reset_id, digest)
    if _wants_html(request):
        return _page("IP allowlist cleared",
                     f"<p>{out['cleared']} entries were removed. The tenant accepts requests "
                     "from any address until an admin adds entries again.</p>")
    return json_response(out)


# ---- single entries ----

EntryId = Annotated[UUID, Path(description="Allowlist entry id")]


@router.get("/{entry_id:uuid}", response_model=EntryOut,
            summary="One allowlist entry (admin+)")
async def get_entry(entry_id: EntryId, _: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(schemas.entry_out(await service.get_entry(tx, entry_id)))


@router.patch("/{entry_id:uuid}", response_model=EntryOut, responses=LOCKOUT,
              summary="Change an entry's description or expiry (admin+)")
async def update_entry(entry_id: EntryId, body: EntryUpdate, _: AdminPrincipal, tx: TenantTx,
                       rt: RuntimeDep) -> Response:
    return json_response(schemas.entry_out(
        await service.update_entry(tx, entry_id, body, _bypass(rt))))


@router.delete("/{entry_id:uuid}", status_code=204, responses=LOCKOUT,
               summary="Remove an entry (admin+); force as ?force=true or {\"force\": true}")
async def delete_entry(entry_id: EntryId, _: AdminPrincipal, tx: TenantTx, rt: RuntimeDep,
                       force: bool = Query(False, description="Remove it even if that refuses "
                                                          "your own current address"),
                       body: Annotated[EntryDelete | None, Body()] = None) -> Response:
    forced = force or (body is not None and body.force)
    await service.delete_entry(tx, entry_id, force=forced, bypass=_bypass(rt))
    return Response(status_code=204)
