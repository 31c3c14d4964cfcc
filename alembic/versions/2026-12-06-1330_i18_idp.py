"""i18 idp: allowlist entry scope and mode, the report-only denial report

Revision ID: 0790_i18_idp
Revises: 0780_i20_scale
Create Date: 2026-12-08 10:00

- ip_allowlist.scope: 'all' (default), 'users' (sessions, API keys, login, invitations) or
  'scim' (the tenant's SCIM tokens): which credentials an entry applies to.
- ip_allowlist.mode: 'enforce' (default) or 'report_only'. The report-only entries form the
  tenant's candidate list: evaluated on live traffic, never refusing. A network may be on both
  lists, so the unique key becomes (tenant_id, mode, cidr).
- ip_allowlist_report: would-be denials of the candidate list, one row per (credential type,
  address, user), upserted at most once per key and minute per process.
- drift_api.ip_allowlist_entries(tenant) returns scope and mode too (the cache loader).
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0790_i18_idp"
down_revision: str | Sequence[str] | None = "0780_i20_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
SIG = "drift_api.ip_allowlist_entries(uuid)"


def _entries_function(extra: str) -> str:
    cols = "seq bigint, id uuid, cidr cidr, expires_at timestamptz" + (
        ", scope text, mode text" if extra else "")
    sel = "s.seq, a.id, a.cidr, a.expires_at" + (", a.scope, a.mode" if extra else "")
    return f"""CREATE FUNCTION drift_api.ip_allowlist_entries(p_tenant uuid)
            RETURNS TABLE ({cols})
            LANGUAGE plpgsql {DEFINER} AS $$
        #variable_conflict use_column
        DECLARE
            v_prev text := current_setting('app.tenant_id', true);
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant::text, true);
            RETURN QUERY
                SELECT {sel}
                  FROM drift_private.ip_allowlist_seq s
                  LEFT JOIN public.ip_allowlist a ON true;
            PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
        END $$"""


def upgrade() -> None:
    app = app_role()
    for stmt in [
        "ALTER TABLE ip_allowlist ADD COLUMN scope text NOT NULL DEFAULT 'all'"
        " CHECK (scope IN ('all', 'users', 'scim'))",
        "ALTER TABLE ip_allowlist ADD COLUMN mode text NOT NULL DEFAULT 'enforce'"
        " CHECK (mode IN ('enforce', 'report_only'))",
        "ALTER TABLE ip_allowlist DROP CONSTRAINT ip_allowlist_cidr_uq",
        "ALTER TABLE ip_allowlist ADD CONSTRAINT ip_allowlist_cidr_uq"
        " UNIQUE (tenant_id, mode, cidr)",
        """CREATE TABLE ip_allowlist_report (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            credential_type text NOT NULL
                CHECK (credential_type IN ('session', 'api_key', 'scim_token', 'login')),
            ip inet,
            user_id uuid,
            count bigint NOT NULL DEFAULT 0,
            first_seen timestamptz NOT NULL,
            last_seen timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT ip_allowlist_report_key UNIQUE NULLS NOT DISTINCT
                (tenant_id, credential_type, ip, user_id),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
        )""",
        "CREATE INDEX ip_allowlist_report_seen ON ip_allowlist_report (tenant_id, last_seen, id)",
        *tenant_rls("ip_allowlist_report"),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ip_allowlist_report TO {app}",
        f"DROP FUNCTION {SIG}",
        _entries_function("scope"),
        f"REVOKE EXECUTE ON FUNCTION {SIG} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {SIG} TO {app}",
    ]:
        op.execute(stmt)


def downgrade() -> None:
    app = app_role()
    for stmt in [
        f"DROP FUNCTION {SIG}",
        _entries_function(""),
        f"REVOKE EXECUTE ON FUNCTION {SIG} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {SIG} TO {app}",
        "DROP TABLE ip_allowlist_report",
        "DELETE FROM ip_allowlist WHERE mode = 'report_only'",
        "ALTER TABLE ip_allowlist DROP CONSTRAINT ip_allowlist_cidr_uq",
        "ALTER TABLE ip_allowlist ADD CONSTRAINT ip_allowlist_cidr_uq UNIQUE (tenant_id, cidr)",
        "ALTER TABLE ip_allowlist DROP COLUMN mode",
        "ALTER TABLE ip_allowlist DROP COLUMN scope",
    ]:
        op.execute(stmt)
