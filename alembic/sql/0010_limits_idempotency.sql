-- 0010_limits_idempotency: tenant rate limits and idempotency keys
-- Loaded by alembic/versions/0010_limits_idempotency.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE TABLE public.tenant_rate_windows (
    tenant_id uuid NOT NULL,
    kind text NOT NULL,
    window_start timestamp with time zone NOT NULL,
    used integer NOT NULL,
    CONSTRAINT tenant_rate_windows_kind_check CHECK ((kind = ANY (ARRAY['api'::text, 'scim'::text]))),
    CONSTRAINT tenant_rate_windows_used_check CHECK ((used >= 0)),
    CONSTRAINT tenant_rate_windows_pkey PRIMARY KEY (tenant_id, kind)
);

SELECT drift_private.declare_tenant_table('public.tenant_rate_windows', 'SELECT', :'app_role');

CREATE TABLE public.idempotency_keys (
    tenant_id uuid NOT NULL,
    key text NOT NULL,
    request_hash bytea NOT NULL,
    method text NOT NULL,
    path text NOT NULL,
    status integer NOT NULL,
    headers jsonb NOT NULL,
    body bytea NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    CONSTRAINT idempotency_keys_key_check CHECK (((length(key) >= 1) AND (length(key) <= 255))),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (tenant_id, key)
);

CREATE INDEX idempotency_keys_expiry_idx ON public.idempotency_keys USING btree (tenant_id, expires_at);
SELECT drift_private.declare_tenant_table('public.idempotency_keys', 'SELECT, INSERT, DELETE', :'app_role');

\ir functions/drift_api.rate_lease.v1.sql
REVOKE ALL ON FUNCTION drift_api.rate_lease(p_tenant uuid, p_kind text, p_window_start timestamp with time zone, p_budgets jsonb, p_fraction real) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.rate_lease(p_tenant uuid, p_kind text, p_window_start timestamp with time zone, p_budgets jsonb, p_fraction real) TO :"app_role";
