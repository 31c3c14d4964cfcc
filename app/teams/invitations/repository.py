"""SQL for invitations."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg

from app.core.keyset import Params, keyset_page
from app.core.tx import Tx

COLUMNS = (
    "i.id, i.email, i.role, i.team_id, t.name AS team_name, i.token_hash, i.expires_at,"
    " i.accepted_at, i.accepted_user_id, i.revoked_at, i.revoked_reason, i.invited_by,"
    " i.created_at,"
    " i.ttl_seconds, i.sent_count, i.last_sent_at")
FROM = "invitations i LEFT JOIN teams t ON t.tenant_id = i.tenant_id AND t.id = i.team_id"

Status = Literal["pending", "expired", "accepted", "revoked", "all"]


def _status_clause(status: Status, now: datetime, params: Params) -> str:
    if status in ("pending", "expired"):
        cmp = ">" if status == "pending" else "<="
        return (f"i.accepted_at IS NULL AND i.revoked_at IS NULL"
                f" AND i.expires_at {cmp} {params.add(now)}")
    if status == "accepted":
        return "i.accepted_at IS NOT NULL"
    if status == "revoked":
        return "i.revoked_at IS NOT NULL"
    return "true"


async def insert(tx: Tx, *, email: str, role: str, team_id: UUID | None, token_digest: bytes,
                 expires_at: datetime, ttl_seconds: int, invited_by: UUID | None,
                 now: datetime) -> UUID:
    value: UUID = await tx.fetchval(
        "INSERT INTO invitations (tenant_id, email, role, team_id, token_hash, expires_at,"
        " ttl_seconds, invited_by, created_at, last_sent_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
        tx.tenant_id, email, role, team_id, token_digest, expires_at, ttl_seconds, invited_by,
        now)
    return value


async def get(tx: Tx, invitation_id: UUID, *, for_update: bool = False
              ) -> asyncpg.Record | None:
    lock = " FOR NO KEY UPDATE OF i" if for_update else ""
    return await tx.fetchrow(f"SELECT {COLUMNS} FROM {FROM} WHERE i.id = $1{lock}",
                             invitation_id)


async def pending_for_email(tx: Tx, email: str, now: datetime, *,
                            other_than: UUID | None = None) -> asyncpg.Record | None:
    """A pending (not accepted, not revoked, not expired) invitation to this address."""
    return await tx.fetchrow(
        f"SELECT {COLUMNS} FROM {FROM} WHERE i.email_key = lower($1)"
        " AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2"
        " AND i.id IS DISTINCT FROM $3 LIMIT 1", email, now, other_than)


async def list_page(tx: Tx, *, status: Status, now: datetime,
                    after: tuple[datetime, UUID] | None, limit: int
                    ) -> tuple[list[asyncpg.Record], int]:
    params = Params()
    return await keyset_page(tx, columns=COLUMNS, source=FROM, params=params,
                             where=[_status_clause(status, now, params)],
                             count_source="invitations i", key=("i.created_at", "i.id"),
                             after=after, limit=limit)


async def revoke(tx: Tx, invitation_id: UUID, now: datetime, reason: str) -> None:
    await tx.execute("UPDATE invitations SET revoked_at = $2, revoked_reason = $3 WHERE id = $1",
                     invitation_id, now, reason)


# Open invitations to any of the addresses $1 (text[]): lower() of the parameters in
# PostgreSQL, as the generated email_key column computes it; served by the partial index
# invitations_email under RLS (tests/core/test_rls_indexes.py). A SCIM create's INSERT checks
# the same condition inside public.scim_insert_user (alembic/sql/functions), so the usual
# case, nobody invited, costs no statement of its own.
OPEN_FOR_ADDRESSES = ("email_key = ANY(array(SELECT lower(a) FROM unnest($1::text[]) AS a))"
                      " AND accepted_at IS NULL AND revoked_at IS NULL")


async def any_open_for(tx: Tx, addresses: list[str]) -> bool:
    """Whether an invitation to one of these addresses is open (neither accepted nor revoked;
    pending or expired). Uses the partial index invitations_email."""
    found: bool = await tx.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM invitations WHERE {OPEN_FOR_ADDRESSES})", addresses)
    return found


async def revoke_open_for(tx: Tx, addresses: list[str], now: datetime, reason: str
                          ) -> list[asyncpg.Record]:
    """Revoke every open invitation (pending or expired) to one of these addresses."""
    return await tx.fetch(
        "UPDATE invitations SET revoked_at = $2, revoked_reason = $3"
        f" WHERE {OPEN_FOR_ADDRESSES} RETURNING id, email, role, expires_at",
        addresses, now, reason)


async def reissue(tx: Tx, invitation_id: UUID, *, token_digest: bytes, expires_at: datetime,
                  ttl_seconds: int, now: datetime) -> None:
    """A new token (the old one stops matching) and a new expiry."""
    await tx.execute(
        "UPDATE invitations SET token_hash = $2, expires_at = $3, ttl_seconds = $4,"
        " sent_count = sent_count + 1, last_sent_at = $5 WHERE id = $1",
        invitation_id, token_digest, expires_at, ttl_seconds, now)


async def mark_accepted(tx: Tx, invitation_id: UUID, user_id: UUID, now: datetime) -> None:
    await tx.execute(
        "UPDATE invitations SET accepted_at = $2, accepted_user_id = $3 WHERE id = $1",
        invitation_id, now, user_id)
