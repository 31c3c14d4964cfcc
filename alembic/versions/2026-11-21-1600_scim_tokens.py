"""scim tokens: per-tenant SCIM bearer tokens, their lookup and the enter function

Revision ID: 0100_scim_tokens
Revises: 0300_audit_log
Create Date: 2026-11-21 16:00

A SCIM token (`dcs_` + 32 random bytes) is stored as SHA-256 and indexed in
drift_private.token_index (kind 'scim') by the generic index_token trigger, like API keys.
`drift_api.authenticate_scim_token` answers "which tenant and token?" before the tenant is known;
`drift_api.enter_scim_token` opens every SCIM request transaction (`BEGIN; SELECT
drift_api.enter_scim_token(...)`, one round trip): it re-checks that the token is not revoked
and only then sets app.tenant_id, so a revoked token fails on its very next request.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0100_scim_tokens"
down_revision: str | Sequence[str] | None = "0300_audit_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"


def upgrade() -> None:
    app = app_role()
    sql = [
        """CREATE TABLE scim_tokens (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
            prefix text NOT NULL,
            token_hash bytea NOT NULL UNIQUE,
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz,
            revoked_at timestamptz,
            PRIMARY KEY (tenant_id, id)
        )""",
        "CREATE INDEX scim_tokens_created ON scim_tokens (tenant_id, created_at, id)",
        *tenant_rls("scim_tokens"),
        f"GRANT SELECT, INSERT, UPDATE ON scim_tokens TO {app}",
        """CREATE TRIGGER scim_tokens_index AFTER INSERT ON scim_tokens
            FOR EACH ROW EXECUTE FUNCTION drift_private.index_token('scim', 'token_hash', 'id')""",
        # Which tenant and token a SCIM bearer secret belongs to, and whether it still counts.
        f"""CREATE FUNCTION drift_api.authenticate_scim_token(p_hash bytea)
            RETURNS TABLE (status text, tenant_id uuid, token_id uuid)
            LANGUAGE plpgsql {DEFINER} AS $$
        #variable_conflict use_column
        DECLARE
            v_prev text := current_setting('app.tenant_id', true);
            v_tenant uuid;
            r record;
        BEGIN
            SELECT t.tenant_id INTO v_tenant FROM drift_private.token_index t
             WHERE t.token_hash = p_hash AND t.kind = 'scim';
            IF NOT FOUND THEN RETURN; END IF;
            PERFORM set_config('app.tenant_id', v_tenant::text, true);
            SELECT s.id AS sid, s.revoked_at INTO r FROM public.scim_tokens s
             WHERE s.token_hash = p_hash;
            PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            IF NOT FOUND THEN RETURN; END IF;
            status := CASE WHEN r.revoked_at IS NULL THEN 'ok' ELSE 'revoked' END;
            tenant_id := v_tenant;
            token_id := r.sid;
            RETURN NEXT;
        END $$""",
        # The first statement of every SCIM request transaction (see 0003_enter_functions).
        f"""CREATE FUNCTION drift_api.enter_scim_token(p_token uuid, p_tenant uuid,
                                                      p_now timestamptz)
            RETURNS void LANGUAGE plpgsql {DEFINER} AS $$
        DECLARE r record;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant::text, true);
            SELECT s.revoked_at, s.last_used_at INTO r FROM public.scim_tokens s
             WHERE s.id = p_token;
            IF NOT FOUND OR r.revoked_at IS NOT NULL THEN
                PERFORM set_config('app.tenant_id', '', true);
                RAISE EXCEPTION 'revoked' USING ERRCODE = 'DR401';
            END IF;
            IF r.last_used_at IS NULL OR r.last_used_at < p_now - interval '60 seconds' THEN
                UPDATE public.scim_tokens SET last_used_at = p_now WHERE id = p_token;
            END IF;
        END $$""",
    ]
    for stmt in sql:
        op.execute(stmt)
    for sig in ("drift_api.authenticate_scim_token(bytea)",
                "drift_api.enter_scim_token(uuid, uuid, timestamptz)"):
        op.execute(f"REVOKE EXECUTE ON FUNCTION {sig} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {sig} TO {app}")


def downgrade() -> None:
    op.execute("DROP FUNCTION drift_api.enter_scim_token(uuid, uuid, timestamptz)")
    op.execute("DROP FUNCTION drift_api.authenticate_scim_token(bytea)")
    op.execute("DELETE FROM drift_private.token_index WHERE kind = 'scim'")
    op.execute("DROP TABLE scim_tokens")
