"""SQL for tenant request budgets: the `drift_api.rate_lease` definer function (the runtime
role may only read `tenant_rate_windows`, under RLS)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.sql import expect_row


async def lease(conn: asyncpg.Connection, tenant_id: UUID, kind: str, window_start: datetime,
                budgets: dict[str, int], fraction: float) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT granted, budget, window_start FROM drift_api.rate_lease($1, $2, $3, $4, $5)",
        tenant_id, kind, window_start, budgets, fraction)
    return expect_row(row)
