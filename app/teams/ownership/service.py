"""Ownership: there is always exactly one owner, the user named by tenants.owner_id.

Only the current owner moves it, to an active member, in one transaction: tenants.owner_id
moves, the old owner becomes admin, the new owner becomes owner (demote before promote: the
partial unique index allows one owner at a time). No other path makes or unmakes the owner:
the members API and deprovisioning refuse (409 owner_protected) and the database refuses too
(0002_tenants_identity: guard_owner / check_owner triggers).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import asyncpg

from app.core import clock
from app.core.audit_record import record
from app.core.emails import masked
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.principal import Principal, Role
from app.core.sql import expect_row
from app.core.tx import Tx
from app.email.service import enqueue
from app.teams.members import repository as members_repo
from app.teams.ownership import repository
from app.teams.ownership.schemas import owner_identity_out
from app.tenants import repository as tenants_repo

log = logging.getLogger("drift.teams.ownership")


async def transfer_ownership(tx: Tx, principal: Principal, new_owner_id: UUID
                             ) -> asyncpg.Record:
    tenant = await tenants_repo.get_tenant_for_update(tx)
    if tenant is None:
        raise RuntimeError("expected tenant is not None")
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
    if old_owner is None:
        raise RuntimeError("expected old_owner is not None")
    now = clock.now()
    await repository.set_tenant_owner(tx, new_owner_id, now)
    await members_repo.set_role(tx, old_owner_id, Role.admin.value, now)
    await members_repo.set_role(tx, new_owner_id, Role.owner.value, now)
    common = {"tenant_id": str(tx.tenant_id), "previous_owner_id": str(old_owner_id),
              "new_owner_id": str(new_owner_id),
              "owner_managed_by_idp_reset": bool(tenant["owner_managed_by_idp"])}
    await record(tx, "tenant.ownership_transfer", resource_type="user",
                 resource_id=old_owner_id,
                 metadata={**common, "email": old_owner["email"],
                           "role": {"from": Role.owner.value, "to": Role.admin.value}})
    await record(tx, "tenant.ownership_transfer", resource_type="user",
                 resource_id=new_owner_id,
                 metadata={**common, "email": new_owner["email"],
                           "role": {"from": new_owner["role"], "to": Role.owner.value}})
    row = await tenants_repo.get_tenant(tx)
    return expect_row(row)


# ---- the owner's identity: read-only to SCIM unless the owner lets the IdP manage it ----

async def get_owner_identity(tx: Tx) -> dict[str, Any]:
    return owner_identity_out(await repository.owner_identity(tx))


async def set_owner_identity(tx: Tx, principal: Principal, managed_by_idp: bool
                             ) -> dict[str, Any]:
    """Owner only: let SCIM change (or stop it changing) the owner's userName, emails and
    externalId. Audited `tenant.owner_identity_update` when it changes."""
    current = await repository.owner_identity_for_update(tx)
    if principal.user_id is None or principal.user_id != current["owner_id"]:
        raise Forbidden("Only the owner can decide who manages the owner's sign-in identity.",
                        code="insufficient_role")
    if current["owner_managed_by_idp"] != managed_by_idp:
        await repository.set_owner_managed_by_idp(tx, managed_by_idp, clock.now())
        log.info("owner identity managed_by_idp=%s tenant=%s", managed_by_idp, tx.tenant_id)
        await record(tx, "tenant.owner_identity_update", resource_type="tenant",
                     resource_id=tx.tenant_id,
                     metadata={"managed_by_idp": {"from": current["owner_managed_by_idp"],
                                                  "to": managed_by_idp}})
    return owner_identity_out(await repository.owner_identity(tx))


OWNER_EMAIL_CHANGED_KIND = "owner_email_changed"


async def notify_owner_email_changed(tx: Tx, secret_key: str, *, tenant: Mapping[str, Any],
                                     previous: str, new: str | None, via: str) -> None:
    """Every change of the owner's email, whatever the path, calls this in its transaction:
    the PREVIOUS address is told (the new one, partly masked, and what to do), so an owner
    whose identity was taken over hears of it in the mailbox they still control."""
    shown = masked(new) if new else "no address"
    body = (
        "Hello,\n\n"
        f"The email address of the owner of {tenant['name']} ({tenant['slug']}) on Drift Cloud "
        f"was changed by {via} from {previous} to {shown}.\n\n"
        "Drift Cloud sign-in and mail for the owner (such as IP allowlist reset links) now use "
        "the new address.\n\n"
        "If you did not expect this, your identity provider or a Drift administrator may have "
        "been misused: contact your identity provider's administrators at once, have the "
        "change reverted, and in Drift turn off \"owner managed by the identity provider\" "
        "(PUT /api/v1/settings/owner-identity {\"managed_by_idp\": false}) and revoke the "
        "SCIM tokens you do not recognise.\n"
    )
    await enqueue(tx, secret_key, kind=OWNER_EMAIL_CHANGED_KIND, to_address=previous,
                  subject=f"The owner email of {tenant['name']} on Drift Cloud was changed",
                  body=body)
    log.info("owner email changed via %s; previous address notified (tenant %s)", via,
             tx.tenant_id)
