"""Audit log streams to SIEMs (admin+): POST/GET/PATCH/DELETE /api/v1/audit/streams."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from starlette.responses import Response

from app.audit import siem_service as service
from app.audit.schemas import StreamCreate, StreamCreated, StreamList, StreamOut, StreamUpdate
from app.audit.schemas import stream_out as out
from app.core.access import AdminPrincipal, RuntimeDep, TenantTx
from app.core.pagination import DEFAULT_LIMIT, Cursor, Limit, page_response, parse_time_id_cursor
from app.core.responses import json_response

router = APIRouter(prefix="/api/v1/audit/streams", tags=["audit"])


@router.post("", status_code=201, response_model=StreamCreated,
             summary="Stream the audit log to a SIEM: Splunk HEC, Datadog or signed NDJSON "
                     "(admin+)",
             responses={400: {"description": "The URL, token, filters or options are not "
                                             "valid (reason and code in the problem)"}})
async def create_stream(body: StreamCreate, _: AdminPrincipal, tx: TenantTx,
                        rt: RuntimeDep) -> Response:
    made = await service.create(rt, tx, body)
    row = made["row"]
    return json_response({**out(row), "signing_secret": made["signing_secret"]}, 201,
                         headers={"Location": f"/api/v1/audit/streams/{row['id']}"})


@router.get("", response_model=StreamList, summary="List audit streams with their progress "
                                                   "(admin+)")
async def list_streams(_: AdminPrincipal, tx: TenantTx, limit: Limit = DEFAULT_LIMIT,
                       cursor: Cursor = None) -> Response:
    rows, total = await service.list_streams(tx, after=parse_time_id_cursor(cursor),
                                             limit=limit)
    return page_response(rows, total, limit, out)


@router.get("/{stream_id:uuid}", response_model=StreamOut,
            summary="One audit stream: cursor, lag, last success and last error (admin+)")
async def get_stream(stream_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(out(await service.get_stream(tx, stream_id)))


@router.patch("/{stream_id:uuid}", response_model=StreamOut,
              summary="Change, pause/resume (status) or backfill (from_seq/from_time) "
                      "(admin+)")
async def update_stream(stream_id: UUID, body: StreamUpdate, _: AdminPrincipal, tx: TenantTx,
                        rt: RuntimeDep) -> Response:
    return json_response(out(await service.update(rt, tx, stream_id, body)))


@router.delete("/{stream_id:uuid}", status_code=204, summary="Delete an audit stream (admin+)")
async def delete_stream(stream_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    await service.delete(tx, stream_id)
    return Response(status_code=204)
