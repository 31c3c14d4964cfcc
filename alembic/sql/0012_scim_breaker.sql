-- 0012_scim_breaker: SCIM mass-deprovision breaker: per-tenant settings and the log of SCIM deprovisions
-- Loaded by alembic/versions/0012_scim_breaker.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE TABLE public.scim_breaker_settings (
    tenant_id uuid NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    max_share double precision NOT NULL DEFAULT 0.3 CHECK (max_share > 0 AND max_share <= 1),
    window_seconds integer NOT NULL DEFAULT 600 CHECK (window_seconds BETWEEN 60 AND 86400),
    min_changes integer NOT NULL DEFAULT 5 CHECK (min_changes BETWEEN 1 AND 100000),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by uuid,
    PRIMARY KEY (tenant_id)
);
SELECT drift_private.declare_tenant_table('public.scim_breaker_settings', 'SELECT, INSERT, UPDATE', :'app_role');

CREATE TABLE public.scim_deprovisions (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    token_id uuid NOT NULL,
    user_id uuid NOT NULL,
    op text NOT NULL CHECK (op IN ('deactivate', 'delete')),
    status text NOT NULL CHECK (status IN ('applied', 'held', 'approved', 'rejected',
                                           'cancelled', 'void')),
    trip_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolved_by uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, token_id) REFERENCES public.scim_tokens (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES public.users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX scim_deprovisions_window ON public.scim_deprovisions (tenant_id, token_id, created_at);
CREATE UNIQUE INDEX scim_deprovisions_held_user ON public.scim_deprovisions (tenant_id, user_id)
    WHERE status = 'held';
CREATE INDEX scim_deprovisions_held ON public.scim_deprovisions (tenant_id, created_at, id)
    WHERE status = 'held';
SELECT drift_private.declare_tenant_table('public.scim_deprovisions', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');
