"""SQL of the platform's credential lookups: which tenant, user and role a bearer credential
names, through the SECURITY DEFINER functions in drift_api (before any tenant is set). The
credential is verified again inside the request's own transaction (app.core.tx)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from app.core.db import Database


async def authenticate_api_key(db: Database, digest: bytes, now: datetime
                               ) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT status, tenant_id, key_id, user_id, email, role"
        " FROM drift_api.authenticate_api_key($1, $2)", digest, now)


async def authenticate_session(db: Database, tenant_id: UUID, session_id: UUID, user_id: UUID,
                               now: datetime) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT status, email, role FROM drift_api.authenticate_session($1, $2, $3, $4)",
        tenant_id, session_id, user_id, now)
