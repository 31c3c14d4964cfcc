"""case-insensitive lookups that PostgreSQL can index under row-level security

Revision ID: 0600_ci_keys
Revises: 0201_sync
Create Date: 2026-11-21 18:00

Under RLS, PostgreSQL evaluates the tenant policy before any condition that passes a row's
column to a function that is not LEAKPROOF, and lower() is not. So `lower(email) = lower($1)`
cannot use an index on (tenant_id, lower(email)): it scans the whole tenant (measured: a Seq
Scan for a login lookup in a 5,000-user tenant). Stored generated columns holding lower(...)
are compared with plain equality (texteq is leakproof) against lower($1), which lower-cases
the parameter only, so the index serves it. Only superusers could mark a function LEAKPROOF.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0600_ci_keys"
down_revision: str | Sequence[str] | None = "0201_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for stmt in [
        "ALTER TABLE users ADD COLUMN email_key text GENERATED ALWAYS AS (lower(email)) STORED",
        "DROP INDEX users_email_uq",
        # same name: services map this constraint's violations to 409 (SCIM: uniqueness)
        "CREATE UNIQUE INDEX users_email_uq ON users (tenant_id, email_key)"
        " WHERE email_key IS NOT NULL",
        "ALTER TABLE invitations ADD COLUMN email_key text"
        " GENERATED ALWAYS AS (lower(email)) STORED",
        "DROP INDEX invitations_email",
        "CREATE INDEX invitations_email ON invitations (tenant_id, email_key)"
        " WHERE accepted_at IS NULL AND revoked_at IS NULL",
        "ALTER TABLE audit_events ADD COLUMN actor_email_key text"
        " GENERATED ALWAYS AS (lower(actor_email)) STORED",
        "DROP INDEX audit_events_actor_email",
        "CREATE INDEX audit_events_actor_email ON audit_events"
        " (tenant_id, actor_email_key, seq)",
    ]:
        op.execute(stmt)


def downgrade() -> None:
    for stmt in [
        "DROP INDEX audit_events_actor_email",
        "ALTER TABLE audit_events DROP COLUMN actor_email_key",
        "CREATE INDEX audit_events_actor_email ON audit_events"
        " (tenant_id, lower(actor_email), seq)",
        "DROP INDEX invitations_email",
        "ALTER TABLE invitations DROP COLUMN email_key",
        "CREATE INDEX invitations_email ON invitations (tenant_id, lower(email))"
        " WHERE accepted_at IS NULL AND revoked_at IS NULL",
        "DROP INDEX users_email_uq",
        "ALTER TABLE users DROP COLUMN email_key",
        "CREATE UNIQUE INDEX users_email_uq ON users (tenant_id, lower(email))"
        " WHERE email IS NOT NULL",
    ]:
        op.execute(stmt)
