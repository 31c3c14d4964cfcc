"""SQL for moving the tenant's ownership."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from app.core.db import Tx


async def set_tenant_owner(tx: Tx, owner_id: UUID, now: datetime) -> None:
    await tx.execute("UPDATE tenants SET owner_id = $1, updated_at = $2 WHERE tenant_id = $3",
                     owner_id, now, tx.tenant_id)
