"""SQL about the caller's tenant row (serialising SCIM token creation)."""

from __future__ import annotations

from app.core.tx import Tx


async def lock(tx: Tx) -> None:
    """Lock the tenant row in a statement of its own, so that statements after it see
    everything committed by whoever held the lock before."""
    await tx.execute("SELECT 1 FROM tenants WHERE tenant_id = $1 FOR NO KEY UPDATE", tx.tenant_id)
