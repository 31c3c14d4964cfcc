"""SAML replay memory: each accepted assertion ID is kept until its NotOnOrAfter (plus the
clock skew), so a captured response cannot be posted a second time (docs/sso.md, "SAML 2.0").

The table (migration 0009_sso_domains) is declared here, not in app/sso/models.py, so the
SAML part stays self-contained; app/models.py imports it like any domain's models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text

from app.core.models import created_at, tenant_fk, tenant_table, timestamp
from app.core.tx import Tx

sso_saml_replay = tenant_table(
    "sso_saml_replay",
    Column("assertion_id", Text, primary_key=True),
    timestamp("expires_at", nullable=False),
    created_at(),
    tenant_fk(),
)
Index("sso_saml_replay_expires", sso_saml_replay.c.tenant_id, sso_saml_replay.c.expires_at)


async def remember(tx: Tx, assertion_id: str, expires_at: datetime, now: datetime) -> bool:
    """Record a first use of `assertion_id` in the entered tenant; False if it was used before
    (and has not expired from memory). Expired entries of the tenant are dropped on the way."""
    await tx.execute("DELETE FROM sso_saml_replay WHERE expires_at < $1", now)
    inserted = await tx.fetchval(
        "INSERT INTO sso_saml_replay (tenant_id, assertion_id, expires_at, created_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, assertion_id) DO NOTHING"
        " RETURNING true", tx.tenant_id, assertion_id, expires_at, now)
    return bool(inserted)
