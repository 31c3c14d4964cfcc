"""i13 SAML: replay memory for accepted assertion IDs

Revision ID: 0720_i13_saml_replay
Revises: 0710_read_gates
Create Date: 2026-12-07 10:00

- sso_saml_replay: one row per accepted SAML assertion (tenant, assertion ID) until the
  assertion's NotOnOrAfter plus the clock skew (app/sso/saml.py); a second use of the same ID
  is refused as `replayed`. Expired rows are deleted by the next accepted assertion of the
  tenant (index on (tenant_id, expires_at)). Tenant table: RLS like every other.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0720_i13_saml_replay"
down_revision: str | Sequence[str] | None = "0710_read_gates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    app = app_role()
    sql = [
        """CREATE TABLE sso_saml_replay (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            assertion_id text NOT NULL CHECK (length(assertion_id) BETWEEN 1 AND 256),
            expires_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, assertion_id)
        )""",
        "CREATE INDEX sso_saml_replay_expires ON sso_saml_replay (tenant_id, expires_at)",
        *tenant_rls("sso_saml_replay"),
        f"GRANT SELECT, INSERT, DELETE ON sso_saml_replay TO {app}",
    ]
    for stmt in sql:
        op.execute(stmt)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS sso_saml_replay")
