"""audit retention notices: remember what each tenant was told before its events are purged

Revision ID: 0701_i23_retention_notice
Revises: 0700_i23_audit_verb
Create Date: 2026-11-22 09:10

The daily `audit-retention` job emails a tenant's owner and admins 7 days before events reach
the retention limit, once per window (docs/audit.md, "Retention notices"). One row per tenant:
events created before `cutoff` were announced at `notified_at` and may go from `purge_from`
(`notified_at` + 7 days); until then the limit of the previous notice, `prior_cutoff`, holds
(NULL: nothing may be deleted yet). The job passes the resulting limit to the deleting
functions, which still clamp to the tenant's policy, so this row can delay a deletion but
never bring one forward.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0701_i23_retention_notice"
down_revision: str | Sequence[str] | None = "0700_i23_audit_verb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    app = app_role()
    for stmt in [
        """CREATE TABLE audit_retention_notices (
            tenant_id uuid NOT NULL PRIMARY KEY
                REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            notified_at timestamptz NOT NULL,
            cutoff timestamptz NOT NULL,
            purge_from timestamptz NOT NULL,
            prior_cutoff timestamptz,
            events bigint NOT NULL CHECK (events >= 0),
            retention_days integer NOT NULL,
            CHECK (prior_cutoff IS NULL OR prior_cutoff <= cutoff)
        )""",
        *tenant_rls("audit_retention_notices"),
        f"GRANT SELECT, INSERT, UPDATE ON audit_retention_notices TO {app}",
    ]:
        op.execute(stmt)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS audit_retention_notices")
