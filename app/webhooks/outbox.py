"""Domain events: inserted into outbox_events in the transaction that caused them, so an event
exists if and only if its change committed. The webhooks capability fans them out into
deliveries for matching endpoints; the worker delivers after commit."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from app.core import clock
from app.core.db import Tx


def envelope(*, event_id: UUID, type_: str, created_at: str, tenant_id: UUID,
             data: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(event_id), "type": type_, "created_at": created_at,
            "tenant_id": str(tenant_id), "data": data}


async def emit(tx: Tx, type_: str, data: dict[str, Any]) -> UUID:
    event_id = uuid.uuid4()
    await tx.execute(
        "INSERT INTO outbox_events (tenant_id, id, type, created_at, data)"
        " VALUES ($1, $2, $3, $4, $5)",
        tx.tenant_id, event_id, type_, clock.now(), data)
    return event_id
