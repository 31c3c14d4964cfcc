"""Held SCIM deprovisions (app.scim.service.breaker): list, approve, reject (admin+).

Approving runs exactly today's path: a held deactivation goes through
app.auth.service.deprovision_user (keys and sessions revoked, audited, user.deprovisioned
event), a held DELETE through app.scim.service.users.remove. Each change re-checks its user
first: a user gone from SCIM meanwhile, or who became the owner, makes the change `void`.
Rejecting drops the hold: the user stays as they are, SCIM shows them active again, and the
identity provider sends the change again on its next sync if it still wants it."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.auth.service import deprovision_user
from app.core import clock
from app.core.audit_record import record
from app.core.errors import NotFound, ProblemError
from app.core.metrics import SCIM_HELD_CHANGES
from app.core.tx import Tx
from app.scim.repository import breaker as repo
from app.scim.service import breaker, users

log = logging.getLogger("drift.scim.breaker")


async def list_held(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                    ) -> tuple[list[asyncpg.Record], int]:
    return await repo.held_page(tx, after=after, limit=limit)


async def _held(tx: Tx, ids: list[UUID] | None) -> list[asyncpg.Record]:
    rows = await repo.held_for_update(tx, ids)
    if ids is not None:
        missing = sorted(set(ids) - {r["id"] for r in rows}, key=str)
        if missing:
            raise NotFound(f"No held change with id {', '.join(map(str, missing))} in this "
                           "tenant (it may have been approved, rejected or cancelled "
                           "already); nothing was changed. GET /api/v1/settings/scim/held "
                           "lists the held changes.", code="held_change_not_found")
    return rows


def _out(row: asyncpg.Record, status: str, by: UUID | None, now: datetime,
         reason: str | None = None) -> dict[str, Any]:
    return {**dict(row), "status": status, "resolved_by": by, "resolved_at": now,
            "reason": reason}


async def approve(tx: Tx, ids: list[UUID] | None, *, by: UUID | None) -> list[dict[str, Any]]:
    now = clock.now()
    out = []
    for row in await _held(tx, ids):
        user = await repo.user_for_update(tx, row["user_id"])
        reason = None
        if user is None or user["scim_deleted_at"] is not None:
            reason = "user_gone"
        elif user["role"] == "owner":
            reason = "user_is_owner"
        if user is not None and breaker.held_marker(user) is not None:
            await breaker.mark(tx, user, None)
        if reason is None:
            try:
                if row["op"] == "delete":
                    await users.remove(tx, await users.get(tx, row["user_id"]))
                else:
                    await deprovision_user(tx, row["user_id"], source="scim")
            except ProblemError as exc:  # the owner, by a path the check above missed
                if exc.code != "owner_protected":
                    raise
                reason = "user_is_owner"
        status = "approved" if reason is None else "void"
        await repo.resolve(tx, row["id"], status=status, by=by, now=now)
        SCIM_HELD_CHANGES.labels(row["op"], status).inc()
        await record(tx, f"scim.deprovision_{status}", resource_type="user",
                     resource_id=row["user_id"],
                     metadata={"change_id": str(row["id"]), "op": row["op"],
                               "trip_id": str(row["trip_id"]), "reason": reason})
        out.append(_out(row, status, by, now, reason))
    log.info("held SCIM deprovisions approved: %d (tenant %s)", len(out), tx.tenant_id)
    return out


async def reject(tx: Tx, ids: list[UUID] | None, *, by: UUID | None) -> list[dict[str, Any]]:
    now = clock.now()
    out = []
    for row in await _held(tx, ids):
        user = await repo.user_for_update(tx, row["user_id"])
        if user is not None and breaker.held_marker(user) is not None:
            await breaker.mark(tx, user, None)
        await repo.resolve(tx, row["id"], status="rejected", by=by, now=now)
        SCIM_HELD_CHANGES.labels(row["op"], "rejected").inc()
        await record(tx, "scim.deprovision_rejected", resource_type="user",
                     resource_id=row["user_id"],
                     metadata={"change_id": str(row["id"]), "op": row["op"],
                               "trip_id": str(row["trip_id"])})
        out.append(_out(row, "rejected", by, now))
    log.info("held SCIM deprovisions rejected: %d (tenant %s)", len(out), tx.tenant_id)
    return out


async def get_settings(tx: Tx) -> breaker.Policy:
    return await breaker.policy(tx)


async def put_settings(tx: Tx, new: breaker.Policy, *, by: UUID | None) -> breaker.Policy:
    old = await breaker.policy(tx)
    await repo.save_settings(tx, enabled=new.enabled, max_share=new.max_share,
                             window_seconds=new.window_seconds, min_changes=new.min_changes,
                             by=by, now=clock.now())
    changes = {k: {"from": getattr(old, k), "to": getattr(new, k)}
               for k in ("enabled", "max_share", "window_seconds", "min_changes")
               if getattr(old, k) != getattr(new, k)}
    await record(tx, "scim.breaker_settings_update", resource_type="tenant",
                 resource_id=tx.tenant_id, metadata={"changes": changes})
    return new
