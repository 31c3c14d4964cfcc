"""Members and seats: every user of the tenant is a member; active members plus pending
invitations are the seats in use (app.teams.seats).

Role changes here never touch the owner role: nobody becomes or stops being the owner except
through the ownership transfer. Removing a member deactivates them with exactly the revocation
SCIM deprovisioning does (API keys and sessions revoked, user.deprovisioned emitted); their
data and team memberships are kept, so accepting a new invitation brings them back as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.auth.service import deprovision_user
from app.core import clock
from app.core.audit_record import record
from app.core.errors import Conflict, NotFound
from app.core.events import build_data
from app.core.outbox import emit
from app.core.principal import Role
from app.core.tx import Tx
from app.teams.members import repository
from app.teams.seats import seat_usage

OWNER_VIA_TRANSFER = ("The owner role moves only with POST /api/v1/settings/transfer-ownership "
                      "(by the current owner).")


async def list_members(tx: Tx, *, status: str | None, role: str | None,
                       after: tuple[datetime, UUID] | None, limit: int
                       ) -> tuple[list[asyncpg.Record], int]:
    active = None if status is None else status == "active"
    return await repository.list_members(tx, active=active, role=role, after=after,
                                         limit=limit)


async def get_member(tx: Tx, user_id: UUID) -> asyncpg.Record:
    row = await repository.get_member(tx, user_id)
    if row is None:
        raise NotFound("No member with that id.", code="user_not_found")
    return row


async def seat_count(tx: Tx) -> dict[str, Any]:
    return await seat_usage(tx)


async def change_role(tx: Tx, user_id: UUID, role: Role) -> asyncpg.Record:
    """admin/member/viewer for anyone but the owner. Takes effect on the user's next request
    (every request re-checks the role in the database)."""
    user = await repository.lock_user(tx, user_id)
    if user is None:
        raise NotFound("No member with that id.", code="user_not_found")
    if user["role"] == Role.owner.value:
        raise Conflict("The owner's role cannot be changed here. " + OWNER_VIA_TRANSFER,
                       code="owner_protected")
    if role == Role.owner:
        raise Conflict("Nobody can be made owner here. " + OWNER_VIA_TRANSFER,
                       code="owner_protected")
    if user["role"] != role.value:
        await repository.set_role(tx, user_id, role.value, clock.now())
        await emit(tx, "member.role_changed", build_data(
            "member.role_changed", user_id=user_id, email=user["email"],
            old_role=user["role"], new_role=role.value))
        await record(tx, "member.role_change", resource_type="user", resource_id=user_id,
                     metadata={"email": user["email"],
                               "role": {"from": user["role"], "to": role.value}})
    return await get_member(tx, user_id)


async def remove_member(tx: Tx, user_id: UUID) -> None:
    """Deactivate a member (owner refused with 409 owner_protected)."""
    user = await repository.lock_user(tx, user_id)
    if user is None:  # as GET and PATCH answer (another tenant's member is none of this one)
        raise NotFound("No member with that id.", code="user_not_found")
    if user["active"]:  # emit before the audit records (docs/audit.md);
        # deprovision_user refusing (the owner) rolls the event back with everything else
        await emit(tx, "member.removed", build_data(
            "member.removed", user_id=user_id, email=user["email"], role=user["role"],
            source="members_api"))
    meta = await deprovision_user(tx, user_id, source="members_api")
    await record(tx, "member.remove", resource_type="user", resource_id=user_id,
                 metadata={"email": meta["email"], "was_active": meta["was_active"],
                           "api_keys_revoked": meta["api_keys_revoked"],
                           "sessions_revoked": meta["sessions_revoked"]})
