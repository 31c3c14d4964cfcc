"""scim group mappings: IdP group displayName -> Drift role

Revision ID: 0102_scim_group_mappings
Revises: 0101_scim_resources
Create Date: 2026-11-21 16:20

A user's role is the highest role mapped from the SCIM groups (scim_managed teams) they belong
to, member when none is mapped. Group names match case-insensitively (group_key).
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0102_scim_group_mappings"
down_revision: str | Sequence[str] | None = "0101_scim_resources"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    app = app_role()
    for stmt in [
        """CREATE TABLE scim_group_mappings (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            group_name text NOT NULL CHECK (length(group_name) BETWEEN 1 AND 200),
            group_key text GENERATED ALWAYS AS (lower(group_name)) STORED,
            role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, group_key)
        )""",
        *tenant_rls("scim_group_mappings"),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON scim_group_mappings TO {app}",
    ]:
        op.execute(stmt)


def downgrade() -> None:
    op.execute("DROP TABLE scim_group_mappings")
