"""Audit log HTTP API (admin+): query, NDJSON export, live stream, verification, retention."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from app.audit import chain, export, live, query, retention, tickets
from app.audit.filters import (
    MAX_EXPORT_LIMIT,
    AuditFilters,
    decode_position,
    forward_position,
    parse_filters,
    parse_limit,
    parse_order,
    parse_time,
)
from app.audit.schemas import (
    AuditPage,
    RetentionPolicyOut,
    RetentionUpdate,
    StreamTicketOut,
    VerifyOut,
)
from app.core.access import AdminPrincipal, OwnerPrincipal, RuntimeDep, TenantTx, require_role
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.core.principal import Principal, Role
from app.core.responses import json_response
from app.core.tx import Tx

router = APIRouter(tags=["audit"])

ActorQ = Annotated[str | None, Query(max_length=320, description=(
    "User id (UUID) or email address of whoever acted (email: case-insensitive, as recorded)"))]
ActionQ = Annotated[str | None, Query(max_length=100, description=(
    "An action (`project.delete`); a bare verb (`delete`: every action whose part after the "
    "dot is exactly that verb, e.g. `project.delete` and `team.delete`, not `user.deleted`); "
    "or a prefix ending in `*` (`project.*`, `auth.login*`)"))]
ResourceTypeQ = Annotated[str | None, Query(max_length=200, description="e.g. `project`")]
ResourceIdQ = Annotated[str | None, Query(max_length=200)]
OutcomeQ = Annotated[str | None, Query(description="success, failure or denied")]
AfterQ = Annotated[str | None, Query(max_length=64, description=(
    "ISO 8601 time; events with created_at >= after (no zone: UTC)"))]
BeforeQ = Annotated[str | None, Query(max_length=64, description=(
    "ISO 8601 time; events with created_at < before (no zone: UTC)"))]
CursorQ = Annotated[str | None, Query(max_length=512, description=(
    "Opaque cursor from a previous page, export (X-Drift-Next-Cursor) or stream event id"))]


def _filters(actor: str | None, action: str | None, resource_type: str | None,
             resource_id: str | None, outcome: str | None, after: str | None,
             before: str | None) -> AuditFilters:
    return parse_filters(actor=actor, action=action, resource_type=resource_type,
                         resource_id=resource_id, outcome=outcome, after=after, before=before)


def _link(request: Request, cursor: str) -> str:
    """Path and query of the same request continued at `cursor` (a relative reference)."""
    url = request.url.include_query_params(cursor=cursor)
    return f"{url.path}?{url.query}"


@router.get("/api/v1/audit", response_model=AuditPage,
            summary="Query the tenant's audit log (admin+)",
            responses={400: {"description": "Invalid filter, cursor or limit"}})
async def query_audit(request: Request, rt: RuntimeDep, _: AdminPrincipal, tx: TenantTx,
                      actor: ActorQ = None, action: ActionQ = None,
                      resource_type: ResourceTypeQ = None, resource_id: ResourceIdQ = None,
                      outcome: OutcomeQ = None, after: AfterQ = None, before: BeforeQ = None,
                      cursor: CursorQ = None,
                      limit: Annotated[int | None, Query(
                          description=f"Page size, 1..{MAX_LIMIT} (default {DEFAULT_LIMIT})",
                          json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT})] = None,
                      order: Annotated[str | None, Query(
                          description="desc (newest first, default) or asc (oldest first)")
                      ] = None) -> Response:
    f = _filters(actor, action, resource_type, resource_id, outcome, after, before)
    page = await query.query_page(tx, f, position=decode_position(cursor),
                                  order=parse_order(order),
                                  limit=parse_limit(limit) or DEFAULT_LIMIT,
                                  replica=rt.replica)
    headers = {"Cache-Control": "no-store"}
    if page.has_more and page.cursor is not None:
        headers["Link"] = f'<{_link(request, page.cursor)}>; rel="next"'
    return Response(page.body(), media_type="application/json", headers=headers)


@router.get("/api/v1/audit/export", summary="Export the audit log as NDJSON (admin+)",
            response_class=Response,
            responses={200: {"content": {"application/x-ndjson": {}},
                             "description": "One event per line, oldest first. "
                             "X-Drift-Next-Cursor continues after the last covered event."},
                       400: {"description": "Invalid filter, cursor or limit"},
                       429: {"description": "Too many exports running; retry"}})
async def export_audit(request: Request, rt: RuntimeDep, _: AdminPrincipal, tx: TenantTx,
                       actor: ActorQ = None, action: ActionQ = None,
                       resource_type: ResourceTypeQ = None,
                       resource_id: ResourceIdQ = None, outcome: OutcomeQ = None,
                       after: AfterQ = None, before: BeforeQ = None, cursor: CursorQ = None,
                       limit: Annotated[int | None, Query(description=(
                           f"At most this many events (1..{MAX_EXPORT_LIMIT:,}); default: "
                           "everything up to now"), json_schema_extra={
                           "minimum": 1, "maximum": MAX_EXPORT_LIMIT})] = None,
                       fmt: Annotated[Literal["drift", "ocsf"], Query(alias="format",
                                                                      description=(
                           "drift (default): the API's event JSON; ocsf: OCSF 1.1 records "
                           "(API Activity 6003, Account Change 3001; docs/audit.md)"))
                       ] = "drift") -> Response:
    f = _filters(actor, action, resource_type, resource_id, outcome, after, before)
    start = forward_position(cursor, what="an export")
    n = parse_limit(limit, maximum=MAX_EXPORT_LIMIT, default=None)
    return await export.start_export(rt, tx, f, after_seq=start, limit=n,
                                     link_for=lambda c: _link(request, c), fmt=fmt)


StreamTx = Annotated[Tx, Depends(tickets.stream_tx)]
_require_admin = require_role(Role.admin)


async def _stream_admin(request: Request, tx: StreamTx) -> Principal:
    return await _require_admin(request, tx)


@router.post("/api/v1/audit/stream/tickets", status_code=201, response_model=StreamTicketOut,
             summary="A single-use ticket for opening the live stream from a browser (admin+)",
             responses={201: {"description": "Open `GET /api/v1/audit/stream?ticket=...` "
                              "within 60 seconds; the ticket works once"}})
async def create_stream_ticket(principal: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(await tickets.issue(tx, principal), 201)


@router.get("/api/v1/audit/stream", summary="Live audit events as Server-Sent Events (admin+)",
            description="Authenticate with the Authorization header or, from a browser's "
            "EventSource (which cannot send headers), with `ticket` from "
            "POST /api/v1/audit/stream/tickets.",
            response_class=Response,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: audit` per event; `id` is its cursor"}})
async def stream_audit(request: Request, rt: RuntimeDep,
                       principal: Annotated[Principal, Depends(_stream_admin)], tx: StreamTx,
                       actor: ActorQ = None, action: ActionQ = None,
                       resource_type: ResourceTypeQ = None,
                       resource_id: ResourceIdQ = None, outcome: OutcomeQ = None,
                       cursor: CursorQ = None,
                       last_event_id: Annotated[str | None, Header(
                           max_length=512, description="Resume after this event (SSE)")] = None
                       ) -> Response:
    f = _filters(actor, action, resource_type, resource_id, outcome, None, None)
    resume = last_event_id or cursor
    start = forward_position(resume, what="the stream") if resume else None
    return await live.open_stream(
        rt, tx, principal, f, start_seq=start,
        ticket_id=getattr(request.state, "stream_ticket_id", None))


@router.get("/api/v1/audit/verify", response_model=VerifyOut,
            summary="Recompute the audit hash chain over a time range (admin+)")
async def verify_audit(rt: RuntimeDep, _: AdminPrincipal, tx: TenantTx,
                       after: AfterQ = None, before: BeforeQ = None) -> Response:
    t_after, t_before = parse_time("after", after), parse_time("before", before)
    if t_after is not None and t_before is not None and t_after >= t_before:
        parse_filters(after=after, before=before)  # raises the range error
    result: dict[str, Any] = await chain.verify(rt, tx, after=t_after, before=t_before)
    return json_response(result)


@router.get("/api/v1/settings/audit-retention", response_model=RetentionPolicyOut,
            summary="The tenant's audit retention policy (admin+)")
async def get_retention(_: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(await retention.get_policy(tx))


@router.put("/api/v1/settings/audit-retention", response_model=RetentionPolicyOut,
            summary="Set the audit retention (owner, enterprise plan)",
            responses={402: {"description": "Not on the enterprise plan"},
                       400: {"description": "Days out of range"}})
async def put_retention(body: RetentionUpdate, _: OwnerPrincipal, tx: TenantTx) -> Response:
    return json_response(await retention.set_policy(tx, body.days))
