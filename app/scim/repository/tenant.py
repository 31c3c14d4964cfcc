"""SQL about the caller's tenant row (seat limit, serialising seat consumers)."""

from __future__ import annotations

from app.core.db import Tx


async def seat_limit(tx: Tx) -> int | None:
    value: int | None = await tx.fetchval(
        "SELECT seat_limit FROM tenants WHERE tenant_id = $1", tx.tenant_id)
    return value


async def lock(tx: Tx) -> None:
    """Lock the tenant row in a statement of its own, so that statements after it (seat counts)
    see every seat committed by whoever held the lock before."""
    await tx.execute("SELECT 1 FROM tenants WHERE tenant_id = $1 FOR UPDATE", tx.tenant_id)
