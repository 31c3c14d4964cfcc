"""i13 verified domains: DNS TXT challenges, one verifying tenant per domain, discovery

Revision ID: 0721_i13_domains
Revises: 0720_i13_saml_replay
Create Date: 2026-12-07 10:10

- verified_domains: a tenant's domains (IDNA/ASCII, lower case) with their TXT challenge token
  (not a secret: it is published in public DNS), status pending|verified. Unique per tenant.
- drift_private.domain_index (domain PRIMARY KEY, tenant_id, domain_id): the verified
  domains of all tenants. Filled by a trigger when a row becomes verified; its primary key is
  what stops a second tenant from verifying a domain another one holds (the second verify
  fails with unique_violation, also under concurrency). Removed with the row.
- drift_api.domain_tenant(domain): which tenant verified a domain (home-realm discovery and
  the "claimed elsewhere" check), before any tenant is entered. Reveals a tenant id only.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0721_i13_domains"
down_revision: str | Sequence[str] | None = "0720_i13_saml_replay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"


def upgrade() -> None:
    app = app_role()
    sql = [
        """CREATE TABLE verified_domains (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            domain text NOT NULL CHECK (length(domain) BETWEEN 3 AND 253),
            token text NOT NULL CHECK (length(token) BETWEEN 16 AND 100),
            status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified')),
            verified_at timestamptz,
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT verified_domains_domain_uq UNIQUE (tenant_id, domain),
            FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
                ON DELETE SET NULL (created_by)
        )""",
        "CREATE INDEX verified_domains_created ON verified_domains (tenant_id, created_at, id)",
        *tenant_rls("verified_domains"),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON verified_domains TO {app}",
        """CREATE TABLE drift_private.domain_index (
            domain text PRIMARY KEY,
            tenant_id uuid NOT NULL,
            domain_id uuid NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )""",
        f"""CREATE FUNCTION drift_private.index_domain() RETURNS trigger
            LANGUAGE plpgsql {DEFINER} AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                DELETE FROM drift_private.domain_index
                 WHERE domain = OLD.domain AND tenant_id = OLD.tenant_id;
                RETURN NULL;
            END IF;
            IF NEW.status = 'verified' THEN
                -- a domain another tenant holds: unique_violation on domain_index_pkey
                INSERT INTO drift_private.domain_index (domain, tenant_id, domain_id)
                VALUES (NEW.domain, NEW.tenant_id, NEW.id)
                ON CONFLICT (domain) DO UPDATE SET domain_id = EXCLUDED.domain_id
                    WHERE domain_index.tenant_id = EXCLUDED.tenant_id;
                IF NOT FOUND THEN
                    RAISE unique_violation USING
                        MESSAGE = 'domain already verified by another tenant',
                        CONSTRAINT = 'domain_index_pkey';
                END IF;
            ELSE
                DELETE FROM drift_private.domain_index
                 WHERE domain = NEW.domain AND tenant_id = NEW.tenant_id;
            END IF;
            RETURN NULL;
        END $$""",
        "REVOKE EXECUTE ON FUNCTION drift_private.index_domain() FROM PUBLIC",
        """CREATE TRIGGER verified_domains_index
            AFTER INSERT OR UPDATE OF status OR DELETE ON verified_domains
            FOR EACH ROW EXECUTE FUNCTION drift_private.index_domain()""",
        f"""CREATE FUNCTION drift_api.domain_tenant(p_domain text) RETURNS uuid
            LANGUAGE sql STABLE {DEFINER} AS $$
            SELECT tenant_id FROM drift_private.domain_index WHERE domain = lower(p_domain)
        $$""",
        "REVOKE EXECUTE ON FUNCTION drift_api.domain_tenant(text) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION drift_api.domain_tenant(text) TO {app}",
    ]
    for stmt in sql:
        op.execute(stmt)


def downgrade() -> None:
    for stmt in [
        "DROP FUNCTION IF EXISTS drift_api.domain_tenant(text)",
        "DROP TABLE IF EXISTS verified_domains",
        "DROP FUNCTION IF EXISTS drift_private.index_domain()",
        "DROP TABLE IF EXISTS drift_private.domain_index",
    ]:
        op.execute(stmt)
