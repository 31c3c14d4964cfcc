"""i18 SCIM custom attributes: a tenant's own User attributes and their filter index

Revision ID: 0830_i18_scim_attributes
Revises: 0810_i16_webhooks
Create Date: 2026-12-06 15:10

- scim_custom_attributes: the attributes a tenant declared (PUT /api/v1/settings/scim/schema)
  under urn:drift:params:scim:schemas:extension:custom:2.0:User. `name_key` is lower(name):
  names are case-insensitive (RFC 7643 §2.1) and unique per tenant.
- scim_custom_values: the filter index of the values, which themselves are stored in
  users.scim_resource under the extension URN. One row per (user, attribute) with `value_key`,
  the value in the form filters compare (lower-cased for caseExact=false strings). Under RLS an
  index on an expression over the jsonb document (or a jsonb_path_ops GIN index: `@>` is not
  LEAKPROOF) cannot serve a query's own condition; plain text equality on a stored column can
  (docs/ARCHITECTURE.md, "Case-insensitive lookups under RLS"). Rows go when the user or the
  attribute goes (ON DELETE CASCADE).
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0830_i18_scim_attributes"
down_revision: str | Sequence[str] | None = "0810_i16_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    app = app_role()
    for stmt in [
        """CREATE TABLE scim_custom_attributes (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            name text NOT NULL CHECK (name ~ '^[A-Za-z][A-Za-z0-9_-]{0,63}$'),
            name_key text GENERATED ALWAYS AS (lower(name)) STORED,
            type text NOT NULL CHECK (type IN ('string', 'boolean', 'integer', 'dateTime')),
            required boolean NOT NULL DEFAULT false,
            case_exact boolean NOT NULL DEFAULT false,
            description text NOT NULL DEFAULT '',
            position integer NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, name_key)
        )""",
        *tenant_rls("scim_custom_attributes"),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON scim_custom_attributes TO {app}",
        """CREATE TABLE scim_custom_values (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            user_id uuid NOT NULL,
            name_key text NOT NULL,
            value_key text NOT NULL,
            PRIMARY KEY (tenant_id, user_id, name_key),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
            FOREIGN KEY (tenant_id, name_key)
                REFERENCES scim_custom_attributes (tenant_id, name_key) ON DELETE CASCADE
        )""",
        "CREATE INDEX scim_custom_values_lookup ON scim_custom_values"
        " (tenant_id, name_key, value_key)",
        *tenant_rls("scim_custom_values"),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON scim_custom_values TO {app}",
    ]:
        op.execute(stmt)


def downgrade() -> None:
    op.execute("DROP TABLE scim_custom_values")
    op.execute("DROP TABLE scim_custom_attributes")
