"""i18 mass-deprovision breaker: per-tenant settings and the log of SCIM deprovisions

Revision ID: 0840_i18_deprovision_breaker
Revises: 0810_i16_webhooks
Create Date: 2026-12-06 15:20

- scim_breaker_settings: one row per tenant that changed the defaults (no row: on, 30 % of
  the active users, 10 minutes, at least 5 changes). `max_share` in (0, 1], `window_seconds`
  60..86400, `min_changes` (the floor: that many deprovisions per window are always allowed,
  so a small tenant can still deprovision someone) 1..100000.
- scim_deprovisions: every deactivation or DELETE of a user by a SCIM token. `applied` rows
  are what the breaker counts in its window (pruned after a day, the longest window);
  `held` rows wait for an admin (`approved`, `rejected`; `cancelled` when the identity
  provider reactivated the user; `void` when the user was gone by approval time). At most one
  held change per user. `trip_id` is the id of the first held change of its trip.
docs/scim.md, "Mass-deprovision breaker".
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0840_i18_deprovision_breaker"
down_revision: str | Sequence[str] | None = "0810_i16_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    app = app_role()
    sql = [
        """CREATE TABLE scim_breaker_settings (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            enabled boolean NOT NULL DEFAULT true,
            max_share double precision NOT NULL DEFAULT 0.3
                CHECK (max_share > 0 AND max_share <= 1),
            window_seconds integer NOT NULL DEFAULT 600
                CHECK (window_seconds BETWEEN 60 AND 86400),
            min_changes integer NOT NULL DEFAULT 5 CHECK (min_changes BETWEEN 1 AND 100000),
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by uuid,
            PRIMARY KEY (tenant_id)
        )""",
        *tenant_rls("scim_breaker_settings"),
        f"GRANT SELECT, INSERT, UPDATE ON scim_breaker_settings TO {app}",
        """CREATE TABLE scim_deprovisions (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            token_id uuid NOT NULL,
            user_id uuid NOT NULL,
            op text NOT NULL CHECK (op IN ('deactivate', 'delete')),
            status text NOT NULL CHECK (status IN ('applied', 'held', 'approved', 'rejected',
                                                   'cancelled', 'void')),
            trip_id uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            resolved_at timestamptz,
            resolved_by uuid,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, token_id) REFERENCES scim_tokens (tenant_id, id)
                ON DELETE CASCADE,
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
                ON DELETE CASCADE
        )""",
        "CREATE INDEX scim_deprovisions_window ON scim_deprovisions"
        " (tenant_id, token_id, created_at)",
        "CREATE UNIQUE INDEX scim_deprovisions_held_user ON scim_deprovisions"
        " (tenant_id, user_id) WHERE status = 'held'",
        "CREATE INDEX scim_deprovisions_held ON scim_deprovisions (tenant_id, created_at, id)"
        " WHERE status = 'held'",
        *tenant_rls("scim_deprovisions"),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON scim_deprovisions TO {app}",
    ]
    for statement in sql:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE scim_deprovisions")
    op.execute("DROP TABLE scim_breaker_settings")
