"""Seat accounting: active members plus pending invitations may not exceed tenants.seat_limit.

Every path that consumes a seat (invitation, acceptance, SCIM create, reactivation) calls
ensure_seat_available() in its transaction before writing what takes the seat.

When the tenant has a seat limit, its row is locked FOR NO KEY UPDATE in one statement and the
seats are counted in the next: under READ COMMITTED the second statement takes a fresh
snapshot, so it sees the seat a transaction it waited for has just taken (a single SELECT ...
FOR NO KEY UPDATE with the counts as subqueries would count from the snapshot taken before the
wait). NO KEY UPDATE, not UPDATE: every insert into a tenant table checks its foreign key with a
KEY SHARE lock on the tenant row, which FOR UPDATE would block, so a seat check would wait for
(and deadlock with) any concurrent write of the tenant, e.g. the event fan-out that holds the
tenant's webhook sequence lock (docs/ARCHITECTURE.md, "Row locks"). Two
concurrent seat-consuming requests of one tenant therefore cannot both take the last seat.
Tenants without a limit take no lock at all.
"""

from __future__ import annotations

from typing import Any

from app.core import clock
from app.core.errors import PaymentRequired
from app.core.sql import expect_row
from app.core.tx import Tx


async def seat_usage(tx: Tx, *, lock: bool = False) -> dict[str, Any]:
    if lock:  # a statement of its own: the counts below must be read after the wait
        await tx.execute("SELECT 1 FROM tenants FOR NO KEY UPDATE")
    row = await tx.fetchrow(
        "SELECT t.seat_limit,"
        " (SELECT count(*) FROM users u WHERE u.active) AS active,"
        " (SELECT count(*) FROM invitations i WHERE i.accepted_at IS NULL"
        "    AND i.revoked_at IS NULL AND i.expires_at > $1) AS pending_invites"
        " FROM tenants t", clock.now())
    row = expect_row(row)
    limit = row["seat_limit"]
    used = int(row["active"]) + int(row["pending_invites"])
    return {"active": int(row["active"]), "pending_invites": int(row["pending_invites"]),
            "seat_limit": limit, "remaining": None if limit is None else max(limit - used, 0)}


async def ensure_seat_available(tx: Tx, adding: int = 1, *, releasing: int = 0,
                                locked: bool = False) -> None:
    """Raise 402 seat_limit_exceeded unless `adding` more seats fit.

    `releasing` is for changes that free a seat as they take one (accepting an invitation
    turns a pending seat into an active one). `locked`: the caller already locked the tenant
    row in an earlier statement, so the counts can be read at once."""
    if not locked and await tx.fetchval("SELECT seat_limit FROM tenants") is None:
        return  # unlimited: nothing to count, nothing to serialise
    usage = await seat_usage(tx, lock=not locked)
    limit = usage["seat_limit"]
    if limit is None:  # the limit was lifted while we waited
        return
    used = usage["active"] + usage["pending_invites"] - releasing
    if used + adding > limit:
        raise PaymentRequired(
            f"The plan's seat limit of {limit} is reached ({usage['active']} active members, "
            f"{usage['pending_invites']} pending invitations). Remove a member, revoke an "
            "invitation or raise the seat limit.",
            code="seat_limit_exceeded", seat_limit=limit, active=usage["active"],
            pending_invites=usage["pending_invites"])
