from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query
from starlette.responses import Response

from app.core.access import AdminPrincipal, CurrentPrincipal, RuntimeDep, TenantTx
from app.core.events import ENVELOPE_SCHEMA, EventTypeName, catalog
from app.core.idempotency import idempotent
from app.core.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    envelope,
    page_response,
    parse_time_id_cursor,
)
from app.core.responses import json_response
from app.core.tx import own_tx
from app.webhooks import schemas, service
from app.webhooks.schemas import (
    DeliveryDetail,
    DeliveryList,
    DeliveryOut,
    DeliveryStatus,
    EndpointEventList,
    EventTypeList,
    RecoverIn,
    RecoverOut,
    RotateSecretIn,
    RotateSecretOut,
    TestResult,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    WebhookUpdate,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


@router.get("/event-types", response_model=EventTypeList,
            summary="The event catalog: every type with the JSON Schema of its data and an "
                    "example; the schema of the delivery envelope")
async def event_types(_: CurrentPrincipal) -> Response:
    items = catalog()
    return json_response({**envelope(items, cursor=None, has_more=False, total=len(items)),
                          "envelope_schema": ENVELOPE_SCHEMA})


@router.post("", status_code=201, response_model=WebhookCreated,
             summary="Register an endpoint (admin+); the signing secret is shown only here",
             responses={400: {"description": "The URL is not allowed (reason in detail)"}})
@idempotent
async def register_webhook(body: WebhookCreate, _: AdminPrincipal, tx: TenantTx,
                           rt: RuntimeDep) -> Response:
    out = await service.register(rt, tx, body)
    return json_response(out, 201, headers={"Location": f"/api/v1/webhooks/{out['id']}"})


@router.get("", response_model=WebhookList, summary="List endpoints (admin+)")
async def list_webhooks(_: AdminPrincipal, tx: TenantTx, limit: Limit = DEFAULT_LIMIT,
                        cursor: Cursor = None) -> Response:
    rows, total = await service.list_endpoints(tx, after=parse_time_id_cursor(cursor),
                                               limit=limit)
    return page_response(rows, total, limit, schemas.endpoint_out)


@router.get("/{webhook_id:uuid}", response_model=WebhookOut, summary="Get an endpoint (admin+)")
async def get_webhook(webhook_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    return json_response(schemas.endpoint_out(await service.get_endpoint(tx, webhook_id)))


@router.patch("/{webhook_id:uuid}", response_model=WebhookOut,
              summary="Change url, events, description or active (admin+)")
async def update_webhook(webhook_id: UUID, body: WebhookUpdate, _: AdminPrincipal,
                         tx: TenantTx, rt: RuntimeDep) -> Response:
    return json_response(schemas.endpoint_out(await service.update(rt, tx, webhook_id, body)))


@router.delete("/{webhook_id:uuid}", status_code=204,
               summary="Delete an endpoint and its delivery log (admin+)")
async def delete_webhook(webhook_id: UUID, _: AdminPrincipal, tx: TenantTx) -> Response:
    await service.delete(tx, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id:uuid}/test", response_model=TestResult,
             summary="Send a signed ping now and return the result (admin+)")
async def send_test_ping(webhook_id: UUID, _: AdminPrincipal,
                         tx: TenantTx, rt: RuntimeDep) -> Response:
    ping = await service.prepare_ping(rt, tx, webhook_id)
    # The HTTP call must not run inside a transaction: finish the request's transaction
    # (it only read) and give its connection back, send, then record in a new transaction.
    await tx.detach()
    attempt = await service.send_ping(rt, ping)
    async with own_tx(rt.db, tx.tenant_id, tx.ctx) as record_tx:
        out = await service.record_ping(record_tx, ping, attempt)
    return json_response(out)


@router.post("/{webhook_id:uuid}/rotate-secret", response_model=RotateSecretOut,
             summary="Replace the signing secret; the old one signs too for a grace period")
async def rotate_secret(webhook_id: UUID, _: AdminPrincipal, tx: TenantTx, rt: RuntimeDep,
                        body: Annotated[RotateSecretIn | None, Body()] = None) -> Response:
    grace = (body or RotateSecretIn()).grace_period_seconds
    return json_response(await service.rotate_secret(rt, tx, webhook_id, grace))


@router.get("/{webhook_id:uuid}/deliveries", response_model=DeliveryList,
            summary="The endpoint's deliveries, newest first (admin+)")
async def list_deliveries(webhook_id: UUID, _: AdminPrincipal, tx: TenantTx,
                          status: Annotated[DeliveryStatus | None, Query()] = None,
                          event_type: Annotated[EventTypeName | None, Query()] = None,
                          limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Response:
    rows, total = await service.list_deliveries(
        tx, webhook_id, status=status, event_type=event_type,
        before=parse_time_id_cursor(cursor), limit=limit)
    return page_response(rows, total, limit, schemas.delivery_out)


MAX_SEQ = 2**63 - 1
AfterSeq = Annotated[int, Query(ge=0, le=MAX_SEQ,
                                description="Only events with a larger sequence number (0: from "
                                            "the first); the last webhook-sequence you "
                                            "processed")]


@router.get("/{webhook_id:uuid}/events", response_model=EndpointEventList,
            summary="The events this endpoint was sent, by webhook-sequence, after a number "
                    "(find and fetch what a gap missed; admin+)")
async def list_endpoint_events(webhook_id: UUID, _: AdminPrincipal, tx: TenantTx,
                               after_seq: AfterSeq = 0,
                               limit: Limit = DEFAULT_LIMIT) -> Response:
    rows, total = await service.list_events(tx, webhook_id, after_seq=after_seq, limit=limit)
    page = rows[:limit]
    has_more = len(rows) > limit
    return json_response(envelope(
        [schemas.endpoint_event_out(r, tx.tenant_id) for r in page],
        cursor=str(page[-1]["seq"]) if page else None, has_more=has_more, total=total))


@router.get("/{webhook_id:uuid}/deliveries/{delivery_id}", response_model=DeliveryDetail,
            summary="One delivery with every attempt (admin+)")
async def get_delivery(webhook_id: UUID, delivery_id: UUID, _: AdminPrincipal,
                       tx: TenantTx) -> Response:
    return json_response(await service.get_delivery(tx, webhook_id, delivery_id))


@router.post("/{webhook_id:uuid}/deliveries/{delivery_id}/retry", status_code=202,
             response_model=DeliveryOut, summary="Re-queue a failed delivery (admin+)")
async def retry_delivery(webhook_id: UUID, delivery_id: UUID, _: AdminPrincipal,
                         tx: TenantTx) -> Response:
    return json_response(await service.retry_delivery(tx, webhook_id, delivery_id), 202)


@router.post("/{webhook_id:uuid}/recover", status_code=202, response_model=RecoverOut,
             summary="Re-queue every failed delivery created since a time (admin+)")
async def recover(webhook_id: UUID, body: RecoverIn, _: AdminPrincipal,
                  tx: TenantTx) -> Response:
    return json_response(await service.recover(tx, webhook_id, body.since), 202)
