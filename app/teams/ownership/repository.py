"""SQL for moving the tenant's ownership."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.tx import Tx


async def set_tenant_owner(tx: Tx, owner_id: UUID, now: datetime) -> None:
    """The new owner has not agreed to let the IdP manage their identity: that consent is
    reset with the transfer."""
    await tx.execute("UPDATE tenants SET owner_id = $1, owner_managed_by_idp = false,"
                     " updated_at = $2 WHERE tenant_id = $3", owner_id, now, tx.tenant_id)


async def owner_identity_for_update(tx: Tx) -> asyncpg.Record:
    row = await tx.fetchrow("SELECT owner_id, owner_managed_by_idp, updated_at FROM tenants"
                            " FOR NO KEY UPDATE")
    if row is None:
        raise RuntimeError("the tenant row is visible inside its own transaction")
    return row


async def owner_identity(tx: Tx) -> asyncpg.Record:
    row = await tx.fetchrow("SELECT owner_id, owner_managed_by_idp, updated_at FROM tenants")
    if row is None:
        raise RuntimeError("the tenant row is visible inside its own transaction")
    return row


async def set_owner_managed_by_idp(tx: Tx, value: bool, now: datetime) -> None:
    await tx.execute("UPDATE tenants SET owner_managed_by_idp = $1, updated_at = $2"
                     " WHERE tenant_id = $3", value, now, tx.tenant_id)
