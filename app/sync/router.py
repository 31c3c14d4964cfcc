from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from app.core.access import MemberPrincipal, TenantTx
from app.core.idempotency import idempotent
from app.core.responses import json_response
from app.sync import service
from app.sync.schemas import EventIn, EventOut, SyncIn, SyncOut

router = APIRouter(prefix="/api/v1", tags=["sync"])


@router.post("/sync", status_code=201, response_model=SyncOut,
             summary="Upload a scan: summary, gate results and violations (member+ with "
                     "access to the project)",
             responses={200: {"description": "This scan id was synced before (replay): "
                                             "nothing stored or emitted again",
                              "model": SyncOut}})
@idempotent
async def sync(body: SyncIn, principal: MemberPrincipal, tx: TenantTx) -> Response:
    out, created = await service.ingest(tx, principal, body)
    return json_response(out, 201 if created else 200)


@router.post("/events", status_code=201, response_model=EventOut,
             summary="Report a client-side event (grounding.degraded, sync.failed) about a "
                     "project (member+ with access to it)")
@idempotent
async def submit_event(body: EventIn, principal: MemberPrincipal, tx: TenantTx) -> Response:
    return json_response(await service.submit_event(tx, principal, body), 201)
