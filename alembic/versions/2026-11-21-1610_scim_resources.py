"""scim resources: what SCIM keeps on users and teams

Revision ID: 0101_scim_resources
Revises: 0100_scim_tokens
Create Date: 2026-11-21 16:10

users.scim_resource holds the SCIM User attributes exactly as the identity provider sent them
(canonical attribute names, values untouched; userName, externalId and active live in their
columns). users.scim_deleted_at marks a user deleted over SCIM: the row and its data stay, the
user is gone from /scim/v2. teams (SCIM groups) already carry scim_managed and external_id.

users.user_name_key and teams.name_key hold lower(user_name) / lower(name): SCIM compares them
case-insensitively, and under row-level security PostgreSQL cannot use an index on
lower(user_name) for a query's own condition (lower() is not leakproof, so the condition must
wait until the tenant policy has filtered the rows). `user_name_key = lower($1)` applies lower()
to the parameter only, so the (tenant_id, user_name_key) index serves it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0101_scim_resources"
down_revision: str | Sequence[str] | None = "0100_scim_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for stmt in [
        "ALTER TABLE users ADD COLUMN external_id text"
        " CHECK (external_id IS NULL OR length(external_id) BETWEEN 1 AND 1024)",
        "ALTER TABLE users ADD COLUMN scim_resource jsonb",
        "ALTER TABLE users ADD COLUMN scim_deleted_at timestamptz",
        "ALTER TABLE users ADD COLUMN user_name_key text"
        " GENERATED ALWAYS AS (lower(user_name)) STORED",
        "CREATE INDEX users_scim_user_name_key ON users (tenant_id, user_name_key)",
        "ALTER TABLE teams ADD COLUMN name_key text GENERATED ALWAYS AS (lower(name)) STORED",
        "CREATE INDEX teams_scim_name_key ON teams (tenant_id, name_key)",
        "CREATE INDEX users_scim_external_id ON users (tenant_id, external_id)"
        " WHERE external_id IS NOT NULL",
        # stable SCIM list order (and the default sort) is (created_at, id)
        "CREATE INDEX users_scim_created ON users (tenant_id, created_at, id)",
        "CREATE INDEX teams_scim_external_id ON teams (tenant_id, external_id)"
        " WHERE external_id IS NOT NULL",
        "CREATE INDEX teams_scim_created ON teams (tenant_id, created_at, id)"
        " WHERE scim_managed",
    ]:
        op.execute(stmt)


def downgrade() -> None:
    for stmt in [
        "ALTER TABLE teams DROP COLUMN name_key",
        "ALTER TABLE users DROP COLUMN user_name_key",
        "DROP INDEX teams_scim_created",
        "DROP INDEX teams_scim_external_id",
        "DROP INDEX users_scim_created",
        "DROP INDEX users_scim_external_id",
        "ALTER TABLE users DROP COLUMN scim_deleted_at",
        "ALTER TABLE users DROP COLUMN scim_resource",
        "ALTER TABLE users DROP COLUMN external_id",
    ]:
        op.execute(stmt)
