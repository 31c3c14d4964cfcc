"""The mass-deprovision breaker (docs/scim.md, "Mass-deprovision breaker").

Every deactivation or DELETE of an active user by a SCIM token asks `decide` first, under the
tenant's breaker lock (so two parallel requests cannot both slip under the limit). Within the
window (default 10 minutes) a token may deprovision up to max(min_changes, floor(max_share x
baseline)) users, where baseline = users active now + users this token deprovisioned in the
window (the active users at the window's start, give or take users created or reactivated
meanwhile). The next one trips the breaker: it and every further deprovision from the token are
held (a `held` row, and a marker in the user's SCIM document so the identity provider reads
the state it asked for) until an admin approves or rejects them (app.scim.service.held). The
user keeps access meanwhile. The owner is emailed once per trip."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from app.core import clock
from app.core.audit_record import record
from app.core.metrics import SCIM_BREAKER_TRIPS, SCIM_HELD_CHANGES
from app.core.tx import Tx
from app.email.service import enqueue
from app.scim import render
from app.scim.constants import PREFIX
from app.scim.repository import breaker as repo

log = logging.getLogger("drift.scim.breaker")

EMAIL_KIND = "scim_breaker_tripped"
LONGEST_WINDOW = timedelta(seconds=86400)


@dataclass(frozen=True)
class Policy:
    enabled: bool = True
    max_share: float = 0.3
    window_seconds: int = 600
    min_changes: int = 5

    def allowed(self, baseline: int) -> int:
        """How many deprovisions one token may apply in one window."""
        return max(self.min_changes, math.floor(self.max_share * baseline + 1e-9))


async def policy(tx: Tx) -> Policy:
    row = await repo.settings(tx)
    if row is None:
        return Policy()
    return Policy(enabled=row["enabled"], max_share=float(row["max_share"]),
                  window_seconds=int(row["window_seconds"]),
                  min_changes=int(row["min_changes"]))


def held_marker(row: asyncpg.Record) -> dict[str, Any] | None:
    marker = (row["scim_resource"] or {}).get(render.HELD)
    return marker if isinstance(marker, dict) else None


def public_of(base: str) -> str:
    """The service's public URL from the SCIM base URL (…/scim/v2)."""
    return base.removesuffix(PREFIX)


async def decide(tx: Tx, *, user_id: UUID, op: str, base: str, secret_key: str
                 ) -> dict[str, Any] | None:
    """Before a SCIM token deprovisions the active user `user_id` (op: deactivate, delete):
    None to go ahead (the change is counted), or the held marker ({"id", "op"}) when the
    change is held. Other callers (an admin, the worker) are never held."""
    actor = tx.ctx.actor
    if actor.type != "scim" or actor.credential_id is None:
        return None
    token_id = UUID(str(actor.credential_id))
    pol = await policy(tx)
    if not pol.enabled:
        return None
    await repo.lock(tx)
    now = clock.now()
    trip_id = await repo.open_trip(tx, token_id)
    tripped: tuple[int, int] | None = None
    if trip_id is None:
        applied, active = await repo.window(tx, token_id,
                                            now - timedelta(seconds=pol.window_seconds))
        allowed = pol.allowed(active + applied)
        if applied < allowed:
            await repo.prune(tx, token_id, now - LONGEST_WINDOW)
            await repo.insert(tx, change_id=uuid4(), token_id=token_id, user_id=user_id, op=op,
                              status="applied", trip_id=None, now=now)
            return None
        tripped = (applied, active + applied)
    change_id = uuid4()
    if trip_id is None:
        trip_id = change_id
    await repo.insert(tx, change_id=change_id, token_id=token_id, user_id=user_id, op=op,
                      status="held", trip_id=trip_id, now=now)
    SCIM_HELD_CHANGES.labels(op, "held").inc()
    if tripped is not None:
        await _tripped(tx, pol, token_id=token_id, trip_id=trip_id, applied=tripped[0],
                       baseline=tripped[1], base=base, secret_key=secret_key)
    log.info("SCIM %s held by the breaker: user %s, change %s, token %s, tenant %s", op,
             user_id, change_id, token_id, tx.tenant_id)
    await record(tx, "scim.deprovision_held", resource_type="user", resource_id=user_id,
                 metadata={"change_id": str(change_id), "op": op, "trip_id": str(trip_id),
                           "token_id": str(token_id)})
    return {"id": str(change_id), "op": op}


async def _tripped(tx: Tx, pol: Policy, *, token_id: UUID, trip_id: UUID, applied: int,
                   baseline: int, base: str, secret_key: str) -> None:
    SCIM_BREAKER_TRIPS.inc()
    minutes = pol.window_seconds / 60
    window = f"{minutes:g} minutes" if minutes != 1 else "1 minute"
    token = await repo.token_name(tx, token_id) or str(token_id)
    owner = await repo.owner_contact(tx)
    recipients = [owner["email"]] if owner is not None and owner["email"] else []
    log.warning("SCIM deprovision breaker tripped: token %s applied %d of %d active users "
                "within %s, further deprovisions held (tenant %s)", token_id, applied,
                baseline, window, tx.tenant_id)
    if owner is not None:
        held = f"{public_of(base).rstrip('/')}/api/v1/settings/scim/held"
        body = (
            "Hello,\n\n"
            f"The SCIM token \"{token}\" of {owner['name']} ({owner['slug']}) on Drift Cloud "
            f"deactivated or deleted {applied} of {baseline} active users within {window}, "
            f"the most the mass-deprovision breaker allows ({pol.max_share:.0%} of the active "
            f"users, at least {pol.min_changes}).\n\n"
            "Drift Cloud is now HOLDING every further deactivation and deletion from that "
            "token. The identity provider was told they succeeded, but those users keep their "
            "access until an admin decides. The list grows while the identity provider sends "
            "more.\n\n"
            f"  Review the held changes:  GET {held}\n"
            f"  Apply them all:           POST {held}/approve\n"
            f"  Discard them all:         POST {held}/reject\n"
            "  (either takes {\"ids\": [...]} to pick some; an admin's API key)\n\n"
            "If you did not expect this many removals, check the identity provider's "
            "assignments (a deleted group, a changed scope) before approving, and consider "
            "revoking the SCIM token. A rejected change is sent again by the identity "
            "provider on its next sync if it still wants it.\n\n"
            "You get this email once per trip.\n")
        await enqueue(tx, secret_key, kind=EMAIL_KIND, to_address=owner["email"],
                      subject=f"Drift Cloud: SCIM deprovisioning held for {owner['name']}",
                      body=body)
    await record(tx, "scim.breaker_tripped", resource_type="scim_token", resource_id=token_id,
                 metadata={"trip_id": str(trip_id), "applied_in_window": applied,
                           "active_at_window_start": baseline,
                           "max_share": pol.max_share, "window_seconds": pol.window_seconds,
                           "min_changes": pol.min_changes, "notified": recipients})


async def fold_delete(tx: Tx, user_id: UUID, marker: dict[str, Any]) -> dict[str, Any]:
    """A DELETE of a user whose deactivation is already held: the held change becomes a
    DELETE (approving it deletes; rejecting it leaves the user as before)."""
    await repo.set_op(tx, UUID(marker["id"]), "delete")
    await record(tx, "scim.deprovision_held", resource_type="user", resource_id=user_id,
                 metadata={"change_id": marker["id"], "op": "delete", "folded": True})
    return {"id": marker["id"], "op": "delete"}


async def cancel(tx: Tx, user_id: UUID, marker: dict[str, Any]) -> None:
    """The identity provider reactivated a user whose deactivation was held: nothing to
    approve any more. (The caller writes the user's document without the marker.)"""
    await repo.resolve(tx, UUID(marker["id"]), status="cancelled", by=None, now=clock.now())
    SCIM_HELD_CHANGES.labels(str(marker.get("op")), "cancelled").inc()
    await record(tx, "scim.deprovision_cancelled", resource_type="user", resource_id=user_id,
                 metadata={"change_id": marker["id"], "op": marker.get("op"),
                           "reason": "reactivated_by_identity_provider"})


async def mark(tx: Tx, row: asyncpg.Record, marker: dict[str, Any] | None) -> None:
    """Write the user's SCIM document with `marker` (None: without one)."""
    doc = render.stored_doc(row)
    doc.pop(render.HELD, None)
    if marker is not None:
        doc[render.HELD] = marker
    await repo.set_marker(tx, row["id"], doc, clock.now())
