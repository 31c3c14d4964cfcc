-- 0008_sync: sync: scans, gate results, violations
-- Loaded by alembic/versions/0008_sync.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE TABLE public.scans (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    project_id uuid NOT NULL,
    external_id text NOT NULL,
    started_at timestamp with time zone NOT NULL,
    completed_at timestamp with time zone NOT NULL,
    files_scanned integer NOT NULL,
    duration_ms bigint NOT NULL,
    counts jsonb DEFAULT '{}'::jsonb NOT NULL,
    gates_total integer DEFAULT 0 NOT NULL,
    gates_failed integer DEFAULT 0 NOT NULL,
    violations_received integer DEFAULT 0 NOT NULL,
    violations_new integer DEFAULT 0 NOT NULL,
    synced_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT scans_duration_ms_check CHECK ((duration_ms >= 0)),
    CONSTRAINT scans_external_id_check CHECK (((length(external_id) >= 1) AND (length(external_id) <= 200))),
    CONSTRAINT scans_files_scanned_check CHECK ((files_scanned >= 0)),
    CONSTRAINT scans_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT scans_tenant_id_project_id_external_id_key UNIQUE (tenant_id, project_id, external_id),
    CONSTRAINT scans_tenant_id_project_id_fkey FOREIGN KEY (tenant_id, project_id) REFERENCES public.projects(tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX scans_project ON public.scans USING btree (tenant_id, project_id, created_at);
SELECT drift_private.declare_tenant_table('public.scans', 'SELECT, INSERT, UPDATE', :'app_role', p_tenant_fk => false);

CREATE TABLE public.scan_gate_results (
    tenant_id uuid NOT NULL,
    scan_id uuid NOT NULL,
    gate text NOT NULL,
    passed boolean NOT NULL,
    score double precision NOT NULL,
    threshold double precision NOT NULL,
    CONSTRAINT scan_gate_results_gate_check CHECK (((length(gate) >= 1) AND (length(gate) <= 200))),
    CONSTRAINT scan_gate_results_pkey PRIMARY KEY (tenant_id, scan_id, gate),
    CONSTRAINT scan_gate_results_tenant_id_scan_id_fkey FOREIGN KEY (tenant_id, scan_id) REFERENCES public.scans(tenant_id, id) ON DELETE CASCADE
);

SELECT drift_private.declare_tenant_table('public.scan_gate_results', 'SELECT, INSERT', :'app_role', p_tenant_fk => false);

CREATE TABLE public.violations (
    tenant_id uuid NOT NULL,
    project_id uuid NOT NULL,
    fingerprint text NOT NULL,
    rule text NOT NULL,
    severity text NOT NULL,
    file text NOT NULL,
    line integer,
    message text NOT NULL,
    first_seen_at timestamp with time zone NOT NULL,
    last_seen_at timestamp with time zone NOT NULL,
    first_scan_id uuid NOT NULL,
    last_scan_id uuid NOT NULL,
    occurrences integer DEFAULT 1 NOT NULL,
    CONSTRAINT violations_fingerprint_check CHECK (((length(fingerprint) >= 1) AND (length(fingerprint) <= 200))),
    CONSTRAINT violations_severity_check CHECK ((severity = ANY (ARRAY['critical'::text, 'high'::text, 'medium'::text, 'low'::text, 'info'::text]))),
    CONSTRAINT violations_pkey PRIMARY KEY (tenant_id, project_id, fingerprint),
    CONSTRAINT violations_tenant_id_project_id_fkey FOREIGN KEY (tenant_id, project_id) REFERENCES public.projects(tenant_id, id) ON DELETE CASCADE
);

SELECT drift_private.declare_tenant_table('public.violations', 'SELECT, INSERT, UPDATE', :'app_role', p_tenant_fk => false);
