"""Ownership: there is always exactly one owner, the user named by tenants.owner_id.

Only the current owner moves it, to an active member, in one transaction: tenants.owner_id
moves, the old owner becomes admin, the new owner becomes owner (demote before promote: the
partial unique index allows one owner at a time). No other path makes or unmakes the owner:
the members API and deprovisioning refuse (409 owner_protected) and the database refuses too
(0400_teams_access: guard_owner / check_owner triggers).
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from app.audit.service import record
from app.auth.principal import Principal, Role
from app.core import clock
from app.core.db import Tx
from app.core.errors import Conflict, Forbidden, NotFound
from app.teams.members import repository as members_repo
from app.teams.ownership import repository
from app.tenants import repository as tenants_repo


async def transfer_ownership(tx: Tx, principal: Principal, new_owner_id: UUID
                             ) -> asyncpg.Record:
    tenant = await tenants_repo.get_tenant_for_update(tx)
    assert tenant is not None
    old_owner_id = tenant["owner_id"]
    if principal.user_id is None or principal.user_id != old_owner_id:
        raise Forbidden("Only the owner can transfer ownership.", code="insufficient_role")
    if new_owner_id == old_owner_id:
        raise Conflict("You already own this tenant.", code="already_owner")
    new_owner = await members_repo.lock_user(tx, new_owner_id)
    if new_owner is None:
        raise NotFound("No member with that id.", code="user_not_found")
    if not new_owner["active"]:
        raise Conflict("The new owner must be an active member; that user is deactivated.",
                       code="user_inactive")
    old_owner = await members_repo.lock_user(tx, old_owner_id)
    assert old_owner is not None
    now = clock.now()
    await repository.set_tenant_owner(tx, new_owner_id, now)
    await members_repo.set_role(tx, old_owner_id, Role.admin.value, now)
    await members_repo.set_role(tx, new_owner_id, Role.owner.value, now)
    common = {"tenant_id": str(tx.tenant_id), "previous_owner_id": str(old_owner_id),
              "new_owner_id": str(new_owner_id)}
    await record(tx, "tenant.ownership_transfer", resource_type="user",
                 resource_id=old_owner_id,
                 metadata={**common, "email": old_owner["email"],
                           "role": {"from": Role.owner.value, "to": Role.admin.value}})
    await record(tx, "tenant.ownership_transfer", resource_type="user",
                 resource_id=new_owner_id,
                 metadata={**common, "email": new_owner["email"],
                           "role": {"from": new_owner["role"], "to": Role.owner.value}})
    row = await tenants_repo.get_tenant(tx)
    assert row is not None
    return row
