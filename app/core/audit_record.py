"""The platform's audit primitive. record(): one event in the caller's transaction, so it commits
or vanishes with the change it describes. Denials are recorded with record_denial() in a
transaction of their own, so the rollback of the refused request cannot erase them."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from app.core import clock
from app.core.context import Actor, RequestContext
from app.core.db import Database
from app.core.tx import Tx, own_tx

log = logging.getLogger("drift.audit")

_INSERT = """
INSERT INTO audit_events (tenant_id, id, created_at, actor_type, actor_id, actor_email, action,
                          resource_type, resource_id, outcome, ip, user_agent, request_id,
                          metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
"""

Outcome = Literal["success", "failure", "denied"]


async def record(tx: Tx, action: str, *, resource_id: UUID | str | None = None,
                 resource_type: str | None = None, outcome: Outcome = "success",
                 metadata: dict[str, Any] | None = None, actor: Actor | None = None) -> UUID:
    ctx = tx.ctx
    who = actor or ctx.actor
    meta = dict(metadata or {})
    if who.credential_id is not None and "credential_id" not in meta:
        meta["credential_id"] = str(who.credential_id)
    event_id = uuid.uuid4()
    await insert_event(
        tx, id_=event_id, created_at=clock.now(), actor_type=who.type, actor_id=who.id,
        actor_email=who.email, action=action,
        resource_type=resource_type or action.split(".", 1)[0],
        resource_id=str(resource_id) if resource_id is not None else None,
        outcome=outcome, ip=str(ctx.ip) if ctx.ip is not None else None,
        user_agent=ctx.user_agent, request_id=ctx.request_id, metadata=meta,
    )
    return event_id


# Denials can be hammered (a revoked key in a loop); keep one event per key per minute
# in each process so a flood cannot bloat the log.
_DENIAL_WINDOW = 60.0
_recent_denials: dict[tuple[Any, ...], float] = {}


def _should_record(key: tuple[Any, ...]) -> bool:
    now = time.monotonic()
    if len(_recent_denials) > 10_000:
        for k, t in list(_recent_denials.items()):
            if now - t > _DENIAL_WINDOW:
                del _recent_denials[k]
    last = _recent_denials.get(key)
    if last is not None and now - last < _DENIAL_WINDOW:
        return False
    _recent_denials[key] = now
    return True


async def record_denial(db: Database, tenant_id: UUID, ctx: RequestContext, action: str, *,
                        reason: str, resource_type: str | None = None,
                        resource_id: UUID | str | None = None,
                        metadata: dict[str, Any] | None = None,
                        dedupe_key: tuple[Any, ...] | None = None) -> None:
    """Record a refused request in its own short transaction (best effort, never raises)."""
    key = dedupe_key or (tenant_id, action, reason, str(ctx.ip), ctx.actor.id)
    if not _should_record(key):
        return
    meta = {"reason": reason, "method": ctx.method, "path": ctx.path, **(metadata or {})}
    try:
        async with own_tx(db, tenant_id, ctx) as tx:
            await record(tx, action, outcome="denied", resource_type=resource_type,
                         resource_id=resource_id, metadata=meta)
    except Exception:
        log.exception("could not record denial %s for tenant %s", action, tenant_id)


async def insert_event(tx: Tx, *, id_: UUID, created_at: datetime, actor_type: str,
                       actor_id: UUID | None, actor_email: str | None, action: str,
                       resource_type: str, resource_id: str | None, outcome: str,
                       ip: str | None, user_agent: str | None, request_id: str | None,
                       metadata: dict[str, Any]) -> None:
    """seq, prev_hash and hash are assigned by the chain trigger."""
    await tx.defer(_INSERT, tx.tenant_id, id_, created_at, actor_type, actor_id, actor_email,
                     action, resource_type, resource_id, outcome, ip, user_agent, request_id,
                     metadata, last=True)
