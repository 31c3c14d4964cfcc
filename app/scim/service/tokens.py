"""SCIM tokens: created by tenant admins, shown once, stored as SHA-256, at most two active
per tenant (so an identity provider can be moved to a new token before the old one is
revoked)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.core import clock
from app.core.audit_record import record
from app.core.errors import Conflict, NotFound
from app.core.security import SCIM_TOKEN_PREFIX, display_prefix, new_token, token_hash
from app.core.tx import Tx
from app.scim.repository import tenant as tenant_repo
from app.scim.repository import tokens as repo
from app.scim.schemas import token_out

MAX_ACTIVE = 2


async def create(tx: Tx, name: str, *, created_by: UUID | None) -> dict[str, Any]:
    """A new token (returned once, in `token`); `created_by` is the admin who asked, or the
    demo tenant's owner when `drift-cloud serve` creates the demo tenant."""
    await tenant_repo.lock(tx)  # serialise creations: the two-active-tokens rule
    if await repo.count_active(tx) >= MAX_ACTIVE:
        raise Conflict(f"This tenant already has {MAX_ACTIVE} active SCIM tokens; revoke one "
                       "(DELETE /api/v1/settings/scim/{id}) before creating another.",
                       code="scim_token_limit")
    token = new_token(SCIM_TOKEN_PREFIX)
    row = await repo.insert(tx, name=name, prefix=display_prefix(token),
                            digest=token_hash(token), created_by=created_by,
                            now=clock.now())
    await record(tx, "scim.token_created", resource_type="scim_token", resource_id=row["id"],
                 metadata={"name": name, "prefix": row["prefix"]})
    return {**token_out(row), "token": token}


async def list_tokens(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                      ) -> tuple[list[asyncpg.Record], int]:
    return await repo.list_page(tx, after=after, limit=limit)


async def revoke(tx: Tx, token_id: UUID) -> None:
    row = await repo.get(tx, token_id)
    if row is None:
        raise NotFound("No SCIM token with that id.")
    await repo.revoke(tx, token_id, clock.now())
    await record(tx, "scim.token_revoked", resource_type="scim_token", resource_id=token_id,
                 metadata={"name": row["name"], "prefix": row["prefix"],
                           "already_revoked": row["revoked_at"] is not None})
