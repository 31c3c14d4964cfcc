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
# The events' deliveries: one per (event, endpoint that wants it). Each takes the endpoint's
# next sequence number (webhook_endpoint_sequences.last_seq, moved on by the UPDATE below,
# whose row lock is held until COMMIT): gap-free per endpoint, in commit order, and numbered
# in the order of `items` within one statement. The UPDATE first takes the tenant's advisory
# lock (once per row it is about to change, before changing it), so two transactions that
# emit several events to overlapping endpoints cannot lock counters in opposite orders. An
# endpoint deleted meanwhile has no counter row left: it gets no delivery.
_FAN_OUT = (
    ", tgt AS (SELECT ev.tenant_id, e.id AS endpoint_id, ev.id AS event_id, ev.type,"
    "                 ev.created_at, o.n"
    " FROM ev JOIN unnest($2::uuid[]) WITH ORDINALITY AS o(i, n) ON o.i = ev.id"
    " JOIN webhook_endpoints e ON e.tenant_id = ev.tenant_id"
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
    "      ELSE true END))"
    ", seqs AS (UPDATE webhook_endpoint_sequences s SET last_seq = s.last_seq + c.k"
    " FROM (SELECT endpoint_id, count(*) AS k FROM tgt GROUP BY endpoint_id) c"
    " WHERE s.tenant_id = $1 AND s.endpoint_id = c.endpoint_id"
    " AND pg_advisory_xact_lock(hashtext('drift.webhook_seq'), hashtext($1::text))::text = ''"
    " RETURNING s.endpoint_id, s.last_seq - c.k AS base)"
    " INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, seq,"
    " next_attempt_at, created_at, updated_at)"
    " SELECT t.tenant_id, t.endpoint_id, t.event_id, t.type,"
    " q.base + row_number() OVER (PARTITION BY t.endpoint_id ORDER BY t.n),"
    " t.created_at, t.created_at, t.created_at"
    " FROM tgt t JOIN seqs q ON q.endpoint_id = t.endpoint_id"
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
