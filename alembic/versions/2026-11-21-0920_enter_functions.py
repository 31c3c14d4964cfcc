"""enter functions: verify a known credential and set the tenant, in the request transaction

Revision ID: 0003_enter_functions
Revises: 0002_org_schema
Create Date: 2026-11-21 09:20

Each request transaction starts with `BEGIN; SELECT drift_api.enter_*(...)` (one round trip).
The function re-checks the credential against the database (revoked, expired, user inactive,
role or email changed) and, only if it still stands, sets app.tenant_id for the rest of the
transaction. A failed check raises SQLSTATE DR401 with the reason as the message, and the
transaction is rolled back. So a revoked key or ended session stops working on the very next
request, and authentication and the request's work see the same snapshot of the credential.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role

revision: str = "0003_enter_functions"
down_revision: str | Sequence[str] | None = "0002_org_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"


def upgrade() -> None:
    app = app_role()
    op.execute(f"""
    CREATE FUNCTION drift_api.enter_api_key(p_key uuid, p_tenant uuid, p_role text,
                                            p_email_md5 text, p_now timestamptz)
        RETURNS void LANGUAGE plpgsql {DEFINER} AS $$
    DECLARE r record;
    BEGIN
        PERFORM set_config('app.tenant_id', p_tenant::text, true);
        SELECT k.revoked_at, k.expires_at, k.last_used_at, u.id AS uid, u.active, u.role,
               md5(coalesce(u.email, '')) AS email_md5, u.last_active_at
          INTO r
          FROM public.api_keys k
          JOIN public.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
         WHERE k.id = p_key;
        IF NOT FOUND OR r.revoked_at IS NOT NULL THEN
            PERFORM set_config('app.tenant_id', '', true);
            RAISE EXCEPTION 'revoked' USING ERRCODE = 'DR401';
        ELSIF r.expires_at IS NOT NULL AND r.expires_at <= p_now THEN
            PERFORM set_config('app.tenant_id', '', true);
            RAISE EXCEPTION 'expired' USING ERRCODE = 'DR401';
        ELSIF NOT r.active THEN
            PERFORM set_config('app.tenant_id', '', true);
            RAISE EXCEPTION 'inactive' USING ERRCODE = 'DR401';
        ELSIF r.role <> p_role OR r.email_md5 <> p_email_md5 THEN
            PERFORM set_config('app.tenant_id', '', true);
            RAISE EXCEPTION 'changed' USING ERRCODE = 'DR401';
        END IF;
        IF r.last_used_at IS NULL OR r.last_used_at < p_now - interval '60 seconds' THEN
            UPDATE public.api_keys SET last_used_at = p_now WHERE id = p_key;
        END IF;
        IF r.last_active_at IS NULL OR r.last_active_at < p_now - interval '60 seconds' THEN
            UPDATE public.users SET last_active_at = p_now WHERE id = r.uid;
        END IF;
    END $$""")
    op.execute(f"""
    CREATE FUNCTION drift_api.enter_session(p_session uuid, p_tenant uuid, p_user uuid,
                                            p_role text, p_email_md5 text, p_now timestamptz)
        RETURNS void LANGUAGE plpgsql {DEFINER} AS $$
    DECLARE r record;
    BEGIN
        PERFORM set_config('app.tenant_id', p_tenant::text, true);
        SELECT s.revoked_at, s.expires_at, u.active, u.role,
               md5(coalesce(u.email, '')) AS email_md5, u.last_active_at
          INTO r
          FROM public.sessions s
          JOIN public.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
         WHERE s.id = p_session AND s.user_id = p_user;
        IF NOT FOUND OR r.revoked_at IS NOT NULL THEN
            PERFORM set_config('app.tenant_id', '', true);
            RAISE EXCEPTION 'revoked' USING ERRCODE = 'DR401';
        ELSIF r.expires_at <= p_now THEN
            PERFORM set_config('app.tenant_id', '', true);
            RAISE EXCEPTION 'expired' USING ERRCODE = 'DR401';
        ELSIF NOT r.active THEN
            PERFORM set_config('app.tenant_id', '', true);
            RAISE EXCEPTION 'inactive' USING ERRCODE = 'DR401';
        ELSIF r.role <> p_role OR r.email_md5 <> p_email_md5 THEN
            PERFORM set_config('app.tenant_id', '', true);
            RAISE EXCEPTION 'changed' USING ERRCODE = 'DR401';
        END IF;
        IF r.last_active_at IS NULL OR r.last_active_at < p_now - interval '60 seconds' THEN
            UPDATE public.users SET last_active_at = p_now WHERE id = p_user;
        END IF;
    END $$""")
    for sig in ("drift_api.enter_api_key(uuid, uuid, text, text, timestamptz)",
                "drift_api.enter_session(uuid, uuid, uuid, text, text, timestamptz)"):
        op.execute(f"REVOKE EXECUTE ON FUNCTION {sig} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {sig} TO {app}")


def downgrade() -> None:
    op.execute("DROP FUNCTION drift_api.enter_api_key(uuid, uuid, text, text, timestamptz)")
    op.execute("DROP FUNCTION drift_api.enter_session(uuid, uuid, uuid, text, text, timestamptz)")
