"""ip allowlist: entries, emergency-reset tokens, change sequence + NOTIFY, lookup functions

Revision ID: 0500_ipallow
Revises: 0401_teams_lists
Create Date: 2026-11-21 14:00

- ip_allowlist: one row per allowed network of a tenant (PostgreSQL `cidr`, unique per tenant,
  GiST inet_ops index for `inet <<= cidr` matching), with an optional expiry.
- ip_allowlist_resets: one-time emergency-reset links (SHA-256 of the `dce_` token, 30 minutes),
  indexed in drift_private.token_index (kind 'ip_reset') so the token finds its tenant.
- drift_private.ip_allowlist_seq: one global counter, bumped once per tenant per statement that
  changes ip_allowlist (statement trigger, in the changing transaction), followed by
  `pg_notify('drift_ip_allowlist', '<tenant>:<seq>')`. The UPDATE of the single counter row
  holds its row lock until COMMIT, so counter order is commit order and notifications arrive
  in counter order with no gaps: a process that has applied notification N knows about every
  change up to N. (See docs/ipallow.md: this is what makes the per-process cache never stale.)
- drift_api.ip_allowlist_seq(): the current counter (the per-request freshness check).
- drift_api.ip_allowlist_entries(tenant): a tenant's entries plus the counter, in one snapshot
  (the cache loader; used before the request's tenant transaction exists).
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0500_ipallow"
down_revision: str | Sequence[str] | None = "0401_teams_lists"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"


def upgrade() -> None:
    app = app_role()
    sql = [
        """CREATE TABLE ip_allowlist (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            cidr cidr NOT NULL,
            description text CHECK (description IS NULL OR length(description) <= 500),
            expires_at timestamptz,
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT ip_allowlist_cidr_uq UNIQUE (tenant_id, cidr),
            FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id)
                ON DELETE SET NULL (created_by)
        )""",
        "CREATE INDEX ip_allowlist_cidr_gist ON ip_allowlist USING gist (cidr inet_ops)",
        "CREATE INDEX ip_allowlist_created ON ip_allowlist (tenant_id, created_at, id)",
        """CREATE TABLE ip_allowlist_resets (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            token_hash bytea NOT NULL UNIQUE,
            requested_by uuid NOT NULL,
            email text NOT NULL CHECK (length(email) <= 320),
            requested_ip inet,
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            used_ip inet,
            superseded_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, requested_by) REFERENCES users (tenant_id, id)
                ON DELETE CASCADE
        )""",
        "CREATE INDEX ip_allowlist_resets_created ON ip_allowlist_resets (tenant_id, created_at)",
        """CREATE TRIGGER ip_allowlist_resets_index AFTER INSERT ON ip_allowlist_resets
            FOR EACH ROW EXECUTE FUNCTION drift_private.index_token('ip_reset', 'token_hash', 'id')""",
    ]
    for table in ("ip_allowlist", "ip_allowlist_resets"):
        sql += tenant_rls(table)
    sql += [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ip_allowlist TO {app}",
        f"GRANT SELECT, INSERT, UPDATE ON ip_allowlist_resets TO {app}",
        # ---- change counter + NOTIFY (private: the runtime role reaches it only through
        # the trigger and the functions below) ----
        """CREATE TABLE drift_private.ip_allowlist_seq (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            seq bigint NOT NULL
        )""",
        "INSERT INTO drift_private.ip_allowlist_seq (one, seq) VALUES (true, 0)",
        f"""CREATE FUNCTION drift_private.ip_allowlist_changed() RETURNS trigger
            LANGUAGE plpgsql {DEFINER} AS $$
        DECLARE
            t uuid;
            s bigint;
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                UPDATE drift_private.ip_allowlist_seq SET seq = seq + 1 RETURNING seq INTO s;
                PERFORM pg_notify('drift_ip_allowlist', '*:' || s::text);
                RETURN NULL;
            ELSIF TG_OP = 'INSERT' THEN
                FOR t IN SELECT DISTINCT n.tenant_id FROM ipallow_new n ORDER BY 1 LOOP
                    UPDATE drift_private.ip_allowlist_seq SET seq = seq + 1 RETURNING seq INTO s;
                    PERFORM pg_notify('drift_ip_allowlist', t::text || ':' || s::text);
                END LOOP;
            ELSIF TG_OP = 'DELETE' THEN
                FOR t IN SELECT DISTINCT o.tenant_id FROM ipallow_old o ORDER BY 1 LOOP
                    UPDATE drift_private.ip_allowlist_seq SET seq = seq + 1 RETURNING seq INTO s;
                    PERFORM pg_notify('drift_ip_allowlist', t::text || ':' || s::text);
                END LOOP;
            ELSE
                FOR t IN SELECT n.tenant_id FROM ipallow_new n
                         UNION SELECT o.tenant_id FROM ipallow_old o ORDER BY 1 LOOP
                    UPDATE drift_private.ip_allowlist_seq SET seq = seq + 1 RETURNING seq INTO s;
                    PERFORM pg_notify('drift_ip_allowlist', t::text || ':' || s::text);
                END LOOP;
            END IF;
            RETURN NULL;
        END $$""",
        "REVOKE EXECUTE ON FUNCTION drift_private.ip_allowlist_changed() FROM PUBLIC",
        """CREATE TRIGGER ip_allowlist_changed_ins AFTER INSERT ON ip_allowlist
            REFERENCING NEW TABLE AS ipallow_new
            FOR EACH STATEMENT EXECUTE FUNCTION drift_private.ip_allowlist_changed()""",
        """CREATE TRIGGER ip_allowlist_changed_upd AFTER UPDATE ON ip_allowlist
            REFERENCING OLD TABLE AS ipallow_old NEW TABLE AS ipallow_new
            FOR EACH STATEMENT EXECUTE FUNCTION drift_private.ip_allowlist_changed()""",
        """CREATE TRIGGER ip_allowlist_changed_del AFTER DELETE ON ip_allowlist
            REFERENCING OLD TABLE AS ipallow_old
            FOR EACH STATEMENT EXECUTE FUNCTION drift_private.ip_allowlist_changed()""",
        """CREATE TRIGGER ip_allowlist_changed_trunc AFTER TRUNCATE ON ip_allowlist
            FOR EACH STATEMENT EXECUTE FUNCTION drift_private.ip_allowlist_changed()""",
        # ---- lookups before the tenant transaction exists ----
        f"""CREATE FUNCTION drift_api.ip_allowlist_seq() RETURNS bigint
            LANGUAGE sql STABLE {DEFINER} AS $$
            SELECT seq FROM drift_private.ip_allowlist_seq
        $$""",
        # One statement, one snapshot: the entries and the counter they correspond to. A tenant
        # without entries still gets one row (the counter, NULL entry columns).
        f"""CREATE FUNCTION drift_api.ip_allowlist_entries(p_tenant uuid)
            RETURNS TABLE (seq bigint, id uuid, cidr cidr, expires_at timestamptz)
            LANGUAGE plpgsql {DEFINER} AS $$
        #variable_conflict use_column
        DECLARE
            v_prev text := current_setting('app.tenant_id', true);
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant::text, true);
            RETURN QUERY
                SELECT s.seq, a.id, a.cidr, a.expires_at
                  FROM drift_private.ip_allowlist_seq s
                  LEFT JOIN public.ip_allowlist a ON true;
            PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
        END $$""",
    ]
    for sig in ("drift_api.ip_allowlist_seq()", "drift_api.ip_allowlist_entries(uuid)"):
        sql.append(f"REVOKE EXECUTE ON FUNCTION {sig} FROM PUBLIC")
        sql.append(f"GRANT EXECUTE ON FUNCTION {sig} TO {app}")
    for stmt in sql:
        op.execute(stmt)


def downgrade() -> None:
    for stmt in [
        "DROP FUNCTION IF EXISTS drift_api.ip_allowlist_entries(uuid)",
        "DROP FUNCTION IF EXISTS drift_api.ip_allowlist_seq()",
        "DROP TABLE IF EXISTS ip_allowlist_resets, ip_allowlist CASCADE",
        "DROP FUNCTION IF EXISTS drift_private.ip_allowlist_changed()",
        "DROP TABLE IF EXISTS drift_private.ip_allowlist_seq",
        "DELETE FROM drift_private.token_index WHERE kind = 'ip_reset'",
    ]:
        op.execute(stmt)
