"""Domain events: inserted into outbox_events in the transaction that caused them, so an event
exists if and only if its change committed. The same statement (public.emit_events, in
alembic/sql/functions/) fans the event out into one webhook_deliveries row per active endpoint
subscribed to its type (the type itself or a wildcard `prefix.*` matching it: `events && [type,
wildcards...]`, an array overlap that a GIN index on `events` could serve), each numbered in
its endpoint's sequence; a trigger on that table NOTIFYs the worker, which delivers after
commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from app.core import clock, tracing
from app.core.events import EVENT_TYPES, subscription_keys
from app.core.tx import Tx


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
    # Append-only: sent with COMMIT where the transaction allows (app.core.tx.Tx.defer). The
    # statement itself is public.emit_events, whose plan the database session keeps.
    await tx.defer("SELECT public.emit_events($1, $2, $3, $4, $5, $6, $7, $8)",
                   tx.tenant_id, ids, type_, created_at or clock.now(), list(items),
                   traceparent, exclude_endpoint, subscription_keys(type_))
    return ids
