"""SQL for the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.db import Tx

_INSERT = """
INSERT INTO audit_events (tenant_id, id, created_at, actor_type, actor_id, actor_email, action,
                          resource_type, resource_id, outcome, ip, user_agent, request_id,
                          metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
"""


async def insert_event(tx: Tx, *, id_: UUID, created_at: datetime, actor_type: str,
                       actor_id: UUID | None, actor_email: str | None, action: str,
                       resource_type: str, resource_id: str | None, outcome: str,
                       ip: str | None, user_agent: str | None, request_id: str | None,
                       metadata: dict[str, Any]) -> None:
    await tx.execute(_INSERT, tx.tenant_id, id_, created_at, actor_type, actor_id, actor_email,
                     action, resource_type, resource_id, outcome, ip, user_agent, request_id,
                     metadata)


async def count_for_request(tx: Tx, request_id: str) -> int:
    return int(await tx.fetchval(
        "SELECT count(*) FROM audit_events WHERE request_id = $1", request_id))
