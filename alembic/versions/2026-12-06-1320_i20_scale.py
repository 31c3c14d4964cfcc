"""i20 scale: every unique constraint of a tenant table starts with tenant_id (Citus-ready)

Revision ID: 0780_i20_scale
Revises: 0770_i13_sso
Create Date: 2026-12-10 11:00

Citus can only enforce a unique constraint of a distributed table when it contains the
distribution column (tenant_id). Seven tenant tables had a unique constraint on one global
column; each becomes UNIQUE (tenant_id, column). Nothing is lost:

- the global uniqueness of each bearer-secret hash (api_keys.sha256, sessions.refresh_hash,
  scim_tokens.token_hash, invitations.token_hash, ip_allowlist_resets.token_hash,
  audit_stream_tickets.ticket_hash) is held by drift_private.token_index (PRIMARY KEY
  token_hash), filled by the index_token trigger on each of those tables: that reference table
  is where a secret is routed to its tenant before any tenant is entered. A second row with
  the same hash (a SHA-256 collision of a 256-bit random secret) would not be indexed and so
  would never authenticate: it fails closed;
- the global uniqueness of tenants.slug is held by drift_private.tenant_index (slug UNIQUE),
  filled by the tenants_index trigger in the same transaction, so a taken slug still fails
  the insert with unique_violation;
- the lookups (WHERE hash = $1 under the tenant's RLS predicate) use the new (tenant_id, hash)
  index exactly as they used the old one.

The catalogue check is tests/core/test_citus_ready.py; docs/scaling.md, "Citus".
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0780_i20_scale"
down_revision: str | Sequence[str] | None = "0770_i13_sso"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the column that was unique on its own
GLOBAL_UNIQUES = {
    "tenants": "slug",
    "api_keys": "sha256",
    "sessions": "refresh_hash",
    "scim_tokens": "token_hash",
    "invitations": "token_hash",
    "ip_allowlist_resets": "token_hash",
    "audit_stream_tickets": "ticket_hash",
}


def upgrade() -> None:
    for table, column in GLOBAL_UNIQUES.items():
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_tenant_id_{column}_key"
                   f" UNIQUE (tenant_id, {column})")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_{column}_key")


def downgrade() -> None:
    for table, column in GLOBAL_UNIQUES.items():
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column}_key UNIQUE ({column})")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_tenant_id_{column}_key")
