"""Domain events: inserted into outbox_events in the transaction that caused them, so an event
exists if and only if its change committed. The same statement fans the event out into one
webhook_deliveries row per active endpoint subscribed to its type (the type itself or a
wildcard `prefix.*` matching it: `events && [type, wildcards...]`, an array overlap that a GIN
index on `events` could serve); a trigger on that table
NOTIFYs the worker, which delivers after commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from app.core import clock, tracing
from app.core.events import EVENT_TYPES, subscription_keys
from app.core.tx import Tx

_SEVERITIES = "ARRAY['info', 'low', 'medium', 'high', 'critical']"  # ascending
_FAN_OUT = (
    " INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type,"
    " next_attempt_at, created_at, updated_at)"
    " SELECT ev.tenant_id, e.id, ev.id, ev.type, ev.created_at, ev.created_at, ev.created_at"
    " FROM ev JOIN webhook_endpoints e ON e.tenant_id = ev.tenant_id"
    " WHERE e.active AND e.events && $8::text[] AND e.id IS DISTINCT FROM $7"
    # per-endpoint filters (NULL: none); events without a project_id pass the project filter
    " AND (e.project_ids IS NULL OR NOT ev.data ? 'project_id'"
    "      OR (ev.data->>'project_id')::uuid = ANY (e.project_ids))"
    " AND (e.min_severity IS NULL OR CASE ev.type"
    "      WHEN 'violation.new' THEN array_position(" + _SEVERITIES + ", ev.data->>'severity')"
    "           >= array_position(" + _SEVERITIES + ", e.min_severity)"
    "      WHEN 'scan.completed' THEN EXISTS ("
    "           SELECT 1 FROM jsonb_each_text(ev.data->'scan'->'counts') c"
    "            WHERE array_position(" + _SEVERITIES + ", c.key)"
    "                  >= array_position(" + _SEVERITIES + ", e.min_severity)"
    "              AND c.value::numeric > 0)"
    "      ELSE true END)"
)


def envelope(*, event_id: UUID, type_: str, created_at: str, tenant_id: UUID,
             data: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(event_id), "type": type_, "created_at": created_at,
            "tenant_id": str(tenant_id), "data": data}


async def emit(tx: Tx, type_: str, data: dict[str, Any], *,
               created_at: datetime | None = None, exclude_endpoint: UUID | None = None
               ) -> UUID:
    """One event, and a delivery for every endpoint that wants it (one round trip)."""
    return (await emit_many(tx, type_, [data], created_at=created_at,
                            exclude_endpoint=exclude_endpoint))[0]


async def emit_many(tx: Tx, type_: str, items: Sequence[dict[str, Any]], *,
                    created_at: datetime | None = None, exclude_endpoint: UUID | None = None
                    ) -> list[UUID]:
    """Many events of one type (e.g. violation.new for a whole sync) in one statement.
    `exclude_endpoint`: a webhook endpoint that gets no delivery (the endpoint an alert is
    about)."""
    if type_ not in EVENT_TYPES:  # no endpoint could subscribe: the rows would be dead
        raise ValueError(f"event type {type_!r} is not in app/core/events.py")
    if not items:
        return []
    ids = [uuid.uuid4() for _ in items]
    # the emitting request's trace context (None when tracing is off), for the delivery span
    traceparent = tracing.current_traceparent() if tracing.tracer is not None else None
    # Append-only: sent with COMMIT where the transaction allows (app.core.tx.Tx.defer)
    await tx.defer(
        "WITH ev AS (INSERT INTO outbox_events (tenant_id, id, type, created_at, data,"
        " traceparent)"
        " SELECT $1, i, $3, $4, d, $6 FROM unnest($2::uuid[], $5::jsonb[]) AS u(i, d)"
        " RETURNING tenant_id, id, type, created_at, data)" + _FAN_OUT,
        tx.tenant_id, ids, type_, created_at or clock.now(), list(items), traceparent,
        exclude_endpoint, subscription_keys(type_))
    return ids
