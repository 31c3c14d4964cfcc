"""one-flight reads: gate functions that enter a tenant inside the statement that reads

Revision ID: 0710_read_gates
Revises: 0701_i23_retention_notice
Create Date: 2026-12-06 10:00

A read-only request (GET/HEAD) runs each of its statements as one implicit transaction of its
own, wrapped as

    SELECT * FROM (<the repository's SELECT>) AS _q WHERE drift_api.gate_api_key($n+1, ...)

The gate is STABLE and its arguments are parameters, so PostgreSQL treats the condition as a
pseudo-constant and evaluates it once, in a gating Result node ("One-Time Filter"), before it
executes the plan below it: the credential is re-verified and app.tenant_id set (by the same
`enter_*` functions the BEGIN path calls) before any row-level-security policy reads the
setting. Then the transaction is made read-only, so nothing the wrapped statement calls can
write. The implicit transaction ends with the statement (its Sync), so the tenant setting
never outlives it: one round trip, fail closed. docs/adr/0003-one-flight-reads.md has the
measurements and the alternatives.

A STABLE function may call the VOLATILE enter_* functions (PostgreSQL checks volatility per
function body), so `last_used_at` bookkeeping still happens.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role

revision: str = "0710_read_gates"
down_revision: str | Sequence[str] | None = "0701_i23_retention_notice"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"

GATES = {
    "drift_api.gate_api_key(uuid, uuid, text, text, timestamptz)": f"""
CREATE FUNCTION drift_api.gate_api_key(p_key uuid, p_tenant uuid, p_role text,
                                       p_email_md5 text, p_now timestamptz)
    RETURNS boolean LANGUAGE plpgsql STABLE {DEFINER} AS $$
BEGIN
    PERFORM drift_api.enter_api_key(p_key, p_tenant, p_role, p_email_md5, p_now);
    PERFORM set_config('transaction_read_only', 'on', true);
    RETURN true;
END $$""",
    "drift_api.gate_session(uuid, uuid, uuid, text, text, timestamptz)": f"""
CREATE FUNCTION drift_api.gate_session(p_session uuid, p_tenant uuid, p_user uuid,
                                       p_role text, p_email_md5 text, p_now timestamptz)
    RETURNS boolean LANGUAGE plpgsql STABLE {DEFINER} AS $$
BEGIN
    PERFORM drift_api.enter_session(p_session, p_tenant, p_user, p_role, p_email_md5, p_now);
    PERFORM set_config('transaction_read_only', 'on', true);
    RETURN true;
END $$""",
    "drift_api.gate_scim_token(uuid, uuid, timestamptz)": f"""
CREATE FUNCTION drift_api.gate_scim_token(p_token uuid, p_tenant uuid, p_now timestamptz)
    RETURNS boolean LANGUAGE plpgsql STABLE {DEFINER} AS $$
BEGIN
    PERFORM drift_api.enter_scim_token(p_token, p_tenant, p_now);
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
