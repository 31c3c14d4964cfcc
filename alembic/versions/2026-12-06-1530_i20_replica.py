"""read replica: gates that verify a credential and enter its tenant without writing

Revision ID: 0850_i20_replica
Revises: 0810_i16_webhooks
Create Date: 2026-12-06 15:30

Heavy read-only paths (audit query, NDJSON export, chain verification) may run on a streaming
replica (DRIFT_READ_DATABASE_URL, docs/scaling.md "Read replicas"). A hot standby refuses
every write, and `drift_api.gate_api_key`/`gate_session` call the `enter_*` functions, which
update `last_used_at`/`last_active_at` (at most once a minute): on a standby they fail
whenever that bookkeeping is due. These variants make the same checks as `enter_api_key` /
`enter_session` (revoked, expired, inactive user, changed role or email: SQLSTATE DR401),
set `app.tenant_id`, `app.user_id` and `app.role` for the transaction only, make it
read-only, and write nothing.

The request has already re-verified its credential on the primary (the authority: a
revocation there refuses the very next request even while the replica lags); this second
check on the replica means a replica never serves a credential its own data does not confirm
either. A refusal here while the primary accepted is replica lag (a key created or a role
changed moments ago), and the service then reads from the primary (app/core/replica.py).
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role

revision: str = "0850_i20_replica"
down_revision: str | Sequence[str] | None = "0810_i16_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"

GATES = {
    "drift_api.gate_standby_api_key(uuid, uuid, text, text, timestamptz)": f"""
CREATE FUNCTION drift_api.gate_standby_api_key(p_key uuid, p_tenant uuid, p_role text,
                                               p_email_md5 text, p_now timestamptz)
    RETURNS boolean LANGUAGE plpgsql STABLE {DEFINER} AS $$
DECLARE r record;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    SELECT k.revoked_at, k.expires_at, u.id AS uid, u.active, u.role,
           md5(coalesce(u.email, '')) AS email_md5
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
    PERFORM set_config('app.user_id', r.uid::text, true);
    PERFORM set_config('app.role', r.role, true);
    PERFORM set_config('transaction_read_only', 'on', true);
    RETURN true;
END $$""",
    "drift_api.gate_standby_session(uuid, uuid, uuid, text, text, timestamptz)": f"""
CREATE FUNCTION drift_api.gate_standby_session(p_session uuid, p_tenant uuid, p_user uuid,
                                               p_role text, p_email_md5 text,
                                               p_now timestamptz)
    RETURNS boolean LANGUAGE plpgsql STABLE {DEFINER} AS $$
DECLARE r record;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    SELECT s.revoked_at, s.expires_at, u.active, u.role,
           md5(coalesce(u.email, '')) AS email_md5
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
    PERFORM set_config('app.user_id', p_user::text, true);
    PERFORM set_config('app.role', r.role, true);
    PERFORM set_config('transaction_read_only', 'on', true);
    RETURN true;
END $$""",
}


def upgrade() -> None:
    app = app_role()
    for sig, body in GATES.items():
        op.execute(body)
        op.execute(f"REVOKE EXECUTE ON FUNCTION {sig} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {sig} TO {app}")


def downgrade() -> None:
    for sig in GATES:
        op.execute(f"DROP FUNCTION {sig}")
