"""Seat accounting: active members plus pending invitations may not exceed tenants.seat_limit.

Every path that consumes a seat (invitation, acceptance, SCIM create, reactivation) calls
ensure_seat_available() in its own transaction before writing. The tenant row is locked
FOR UPDATE first, so two concurrent seat-consuming requests of one tenant serialise here and
cannot both take the last seat.
"""

from __future__ import annotations

from typing import Any

from app.core import clock
from app.core.db import Tx
from app.core.errors import PaymentRequired


async def seat_usage(tx: Tx, *, lock: bool = False) -> dict[str, Any]:
    row = await tx.fetchrow(
        "SELECT t.seat_limit,"
        " (SELECT count(*) FROM users u WHERE u.active) AS active,"
        " (SELECT count(*) FROM invitations i WHERE i.accepted_at IS NULL"
        "    AND i.revoked_at IS NULL AND i.expires_at > $1) AS pending_invites"
        " FROM tenants t" + (" FOR UPDATE OF t" if lock else ""),
        clock.now())
    assert row is not None
    limit = row["seat_limit"]
    used = int(row["active"]) + int(row["pending_invites"])
    return {"active": int(row["active"]), "pending_invites": int(row["pending_invites"]),
            "seat_limit": limit, "remaining": None if limit is None else max(limit - used, 0)}


async def ensure_seat_available(tx: Tx, adding: int = 1, *, releasing: int = 0) -> None:
    """Raise 402 seat_limit_exceeded unless `adding` more seats fit.

    `releasing` is for changes that free a seat as they take one (accepting an invitation
    turns a pending seat into an active one)."""
    usage = await seat_usage(tx, lock=True)
    limit = usage["seat_limit"]
    if limit is None:
        return
    used = usage["active"] + usage["pending_invites"] - releasing
    if used + adding > limit:
        raise PaymentRequired(
            f"The plan's seat limit of {limit} is reached ({usage['active']} active members, "
            f"{usage['pending_invites']} pending invitations). Remove a member, revoke an "
            "invitation or raise the seat limit.",
            code="seat_limit_exceeded", seat_limit=limit, active=usage["active"],
            pending_invites=usage["pending_invites"])
