"""rate limits: login/token throttling (before the tenant is known) and tenant request budgets

Revision ID: 0750_i14_limits
Revises: 0740_i14_observe
Create Date: 2026-12-06 11:00

- `drift_private.auth_throttle`: failed attempts per hashed key (an account = tenant slug +
  email, or a client address, per kind: login, refresh, invitation, ip_reset). Failures happen
  before any tenant is known (and for accounts that do not exist), so the table is private:
  the runtime role reaches it only through the `drift_api.throttle_*` definer functions. Keys
  are HMAC-SHA256 digests made by the service (no email or address is stored).
- `tenant_rate_windows`: per tenant and kind (api, scim) the current fixed window and how many
  requests of it processes have leased. A tenant table (RLS like every other); the runtime
  role may only read it and leases through `drift_api.rate_lease`, which reads the tenant's
  plan, takes min(chunk, what is left) in one locked update and returns the grant:
  the sum of grants in a window never exceeds the budget, whatever the number of processes.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0750_i14_limits"
down_revision: str | Sequence[str] | None = "0740_i14_observe"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"

FUNCTIONS = {
    "drift_api.throttle_locked_until(bytea[], timestamptz)": f"""
CREATE FUNCTION drift_api.throttle_locked_until(p_keys bytea[], p_now timestamptz)
    RETURNS timestamptz LANGUAGE sql STABLE {DEFINER} AS $$
    SELECT max(t.locked_until) FROM drift_private.auth_throttle t
    WHERE t.key_hash = ANY (p_keys) AND t.locked_until > p_now
$$""",
    "drift_api.throttle_failure(bytea, text, timestamptz, integer, integer, integer, integer)":
    f"""
CREATE FUNCTION drift_api.throttle_failure(p_key bytea, p_kind text, p_now timestamptz,
                                           p_max_failures integer, p_window_seconds integer,
                                           p_base_seconds integer, p_max_seconds integer)
    RETURNS timestamptz LANGUAGE plpgsql {DEFINER} AS $$
DECLARE
    r drift_private.auth_throttle%ROWTYPE;
BEGIN
    -- forget keys that have been quiet for a day (bounded work per call)
    DELETE FROM drift_private.auth_throttle WHERE key_hash IN (
        SELECT o.key_hash FROM drift_private.auth_throttle o
        WHERE o.last_failure_at < p_now - interval '1 day'
          AND (o.locked_until IS NULL OR o.locked_until < p_now) LIMIT 100);
    INSERT INTO drift_private.auth_throttle (key_hash, kind, failures, window_start, lockouts,
                                             last_failure_at)
    VALUES (p_key, p_kind, 0, p_now, 0, p_now) ON CONFLICT (key_hash) DO NOTHING;
    SELECT * INTO r FROM drift_private.auth_throttle WHERE key_hash = p_key FOR UPDATE;
    IF r.last_failure_at < p_now - interval '1 day' THEN
        r.lockouts := 0;
    END IF;
    IF r.window_start <= p_now - make_interval(secs => p_window_seconds) THEN
        r.failures := 0;
        r.window_start := p_now;
    END IF;
    r.failures := r.failures + 1;
    IF r.failures >= p_max_failures THEN
        -- exponential back-off: base, 2 x base, 4 x base ... up to the maximum
        r.locked_until := p_now + make_interval(secs => least(
            p_max_seconds::double precision,
            p_base_seconds * power(2::double precision, least(r.lockouts, 30))));
        r.lockouts := r.lockouts + 1;
        r.failures := 0;
        r.window_start := p_now;
    END IF;
    UPDATE drift_private.auth_throttle
       SET failures = r.failures, window_start = r.window_start, lockouts = r.lockouts,
           locked_until = r.locked_until, last_failure_at = p_now
     WHERE key_hash = p_key;
    RETURN CASE WHEN r.locked_until > p_now THEN r.locked_until END;
END $$""",
    "drift_api.throttle_clear(bytea, timestamptz)": f"""
CREATE FUNCTION drift_api.throttle_clear(p_key bytea, p_now timestamptz) RETURNS void
    LANGUAGE sql {DEFINER} AS $$
    DELETE FROM drift_private.auth_throttle WHERE key_hash = p_key
        AND (locked_until IS NULL OR locked_until <= p_now)
$$""",
    "drift_api.rate_lease(uuid, text, timestamptz, jsonb, real)": f"""
CREATE FUNCTION drift_api.rate_lease(p_tenant uuid, p_kind text, p_window_start timestamptz,
                                     p_budgets jsonb, p_fraction real)
    RETURNS TABLE (granted integer, budget integer, window_start timestamptz)
    LANGUAGE plpgsql {DEFINER} AS $$
#variable_conflict use_column
DECLARE
    v_prev text := current_setting('app.tenant_id', true);
    v_plan text;
    v_budget integer;
    v_ws timestamptz;
    v_used integer;
    v_grant integer;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    SELECT t.plan INTO v_plan FROM public.tenants t WHERE t.tenant_id = p_tenant;
    v_budget := coalesce((p_budgets ->> v_plan)::integer, 0);
    IF v_plan IS NULL OR v_budget <= 0 THEN
        -- unknown tenant (nothing to spend) or no limit for this plan (NULL grant)
        PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
        RETURN QUERY SELECT CASE WHEN v_plan IS NULL THEN 0 END, v_budget, p_window_start;
        RETURN;
    END IF;
    INSERT INTO public.tenant_rate_windows AS w (tenant_id, kind, window_start, used)
    VALUES (p_tenant, p_kind, p_window_start, 0) ON CONFLICT (tenant_id, kind) DO NOTHING;
    SELECT w.window_start, w.used INTO v_ws, v_used FROM public.tenant_rate_windows w
     WHERE w.tenant_id = p_tenant AND w.kind = p_kind FOR UPDATE;
    IF v_ws < p_window_start THEN  -- a new window: nothing leased in it yet
        v_ws := p_window_start;
        v_used := 0;
    END IF;
    v_grant := greatest(0, least(greatest(1, ceil(v_budget * p_fraction)::integer),
                                 v_budget - v_used));
    UPDATE public.tenant_rate_windows w SET window_start = v_ws, used = v_used + v_grant
     WHERE w.tenant_id = p_tenant AND w.kind = p_kind;
    PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
    RETURN QUERY SELECT v_grant, v_budget, v_ws;
END $$""",
}


def upgrade() -> None:
    app = app_role()
    for stmt in [
        """CREATE TABLE drift_private.auth_throttle (
            key_hash bytea PRIMARY KEY,
            kind text NOT NULL,
            failures integer NOT NULL,
            window_start timestamptz NOT NULL,
            lockouts integer NOT NULL,
            locked_until timestamptz,
            last_failure_at timestamptz NOT NULL
        )""",
        "CREATE INDEX auth_throttle_last_failure ON drift_private.auth_throttle"
        " (last_failure_at)",
        """CREATE TABLE tenant_rate_windows (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            kind text NOT NULL CHECK (kind IN ('api', 'scim')),
            window_start timestamptz NOT NULL,
            used integer NOT NULL CHECK (used >= 0),
            PRIMARY KEY (tenant_id, kind)
        )""",
        *tenant_rls("tenant_rate_windows"),
        # reads under RLS only (a tenant's own window); changes go through rate_lease
        f"GRANT SELECT ON tenant_rate_windows TO {app}",
    ]:
        op.execute(stmt)
    for sig, body in FUNCTIONS.items():
        op.execute(body)
        op.execute(f"REVOKE EXECUTE ON FUNCTION {sig} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {sig} TO {app}")


def downgrade() -> None:
    for sig in FUNCTIONS:
        op.execute(f"DROP FUNCTION {sig}")
    op.execute("DROP TABLE IF EXISTS tenant_rate_windows")
    op.execute("DROP TABLE IF EXISTS drift_private.auth_throttle")
