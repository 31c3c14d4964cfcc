-- 0006_ip_allowlist: IP allowlist: entries, resets, report, the change sequence
-- Loaded by alembic/versions/0006_ip_allowlist.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE TABLE public.ip_allowlist (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    cidr cidr NOT NULL,
    description text,
    expires_at timestamp with time zone,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    scope text DEFAULT 'all'::text NOT NULL,
    mode text DEFAULT 'enforce'::text NOT NULL,
    CONSTRAINT ip_allowlist_description_check CHECK (((description IS NULL) OR (length(description) <= 500))),
    CONSTRAINT ip_allowlist_mode_check CHECK ((mode = ANY (ARRAY['enforce'::text, 'report_only'::text]))),
    CONSTRAINT ip_allowlist_scope_check CHECK ((scope = ANY (ARRAY['all'::text, 'users'::text, 'scim'::text]))),
    CONSTRAINT ip_allowlist_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT ip_allowlist_tenant_id_created_by_fkey FOREIGN KEY (tenant_id, created_by) REFERENCES public.users(tenant_id, id) ON DELETE SET NULL (created_by)
);

CREATE INDEX ip_allowlist_cidr_gist ON public.ip_allowlist USING gist (cidr inet_ops);
CREATE INDEX ip_allowlist_created ON public.ip_allowlist USING btree (tenant_id, created_at, id);
ALTER TABLE ONLY public.ip_allowlist
    ADD CONSTRAINT ip_allowlist_cidr_uq UNIQUE (tenant_id, mode, cidr);
SELECT drift_private.declare_tenant_table('public.ip_allowlist', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

CREATE TABLE public.ip_allowlist_resets (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    token_hash bytea NOT NULL,
    requested_by uuid NOT NULL,
    email text NOT NULL,
    requested_ip inet,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    used_ip inet,
    superseded_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT ip_allowlist_resets_email_check CHECK ((length(email) <= 320)),
    CONSTRAINT ip_allowlist_resets_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT ip_allowlist_resets_tenant_id_requested_by_fkey FOREIGN KEY (tenant_id, requested_by) REFERENCES public.users(tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX ip_allowlist_resets_created ON public.ip_allowlist_resets USING btree (tenant_id, created_at);
ALTER TABLE ONLY public.ip_allowlist_resets
    ADD CONSTRAINT ip_allowlist_resets_tenant_id_token_hash_key UNIQUE (tenant_id, token_hash);
SELECT drift_private.declare_tenant_table('public.ip_allowlist_resets', 'SELECT, INSERT, UPDATE', :'app_role');

CREATE TABLE public.ip_allowlist_report (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    credential_type text NOT NULL,
    ip inet,
    user_id uuid,
    count bigint DEFAULT 0 NOT NULL,
    first_seen timestamp with time zone NOT NULL,
    last_seen timestamp with time zone NOT NULL,
    CONSTRAINT ip_allowlist_report_credential_type_check CHECK ((credential_type = ANY (ARRAY['session'::text, 'api_key'::text, 'scim_token'::text, 'login'::text]))),
    CONSTRAINT ip_allowlist_report_key UNIQUE NULLS NOT DISTINCT (tenant_id, credential_type, ip, user_id),
    CONSTRAINT ip_allowlist_report_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT ip_allowlist_report_tenant_id_user_id_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES public.users(tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX ip_allowlist_report_seen ON public.ip_allowlist_report USING btree (tenant_id, last_seen, id);
SELECT drift_private.declare_tenant_table('public.ip_allowlist_report', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

CREATE TABLE drift_private.ip_allowlist_seq (
    one boolean DEFAULT true NOT NULL,
    seq bigint NOT NULL,
    CONSTRAINT ip_allowlist_seq_one_check CHECK (one),
    CONSTRAINT ip_allowlist_seq_pkey PRIMARY KEY (one)
);

\ir functions/drift_api.ip_allowlist_entries.v1.sql
REVOKE ALL ON FUNCTION drift_api.ip_allowlist_entries(p_tenant uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.ip_allowlist_entries(p_tenant uuid) TO :"app_role";

\ir functions/drift_api.ip_allowlist_seq.v1.sql
REVOKE ALL ON FUNCTION drift_api.ip_allowlist_seq() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.ip_allowlist_seq() TO :"app_role";

\ir functions/drift_private.ip_allowlist_changed.v1.sql
REVOKE ALL ON FUNCTION drift_private.ip_allowlist_changed() FROM PUBLIC;

CREATE TRIGGER ip_allowlist_changed_del AFTER DELETE ON public.ip_allowlist REFERENCING OLD TABLE AS ipallow_old FOR EACH STATEMENT EXECUTE FUNCTION drift_private.ip_allowlist_changed();

CREATE TRIGGER ip_allowlist_changed_ins AFTER INSERT ON public.ip_allowlist REFERENCING NEW TABLE AS ipallow_new FOR EACH STATEMENT EXECUTE FUNCTION drift_private.ip_allowlist_changed();

CREATE TRIGGER ip_allowlist_changed_trunc AFTER TRUNCATE ON public.ip_allowlist FOR EACH STATEMENT EXECUTE FUNCTION drift_private.ip_allowlist_changed();

CREATE TRIGGER ip_allowlist_changed_upd AFTER UPDATE ON public.ip_allowlist REFERENCING OLD TABLE AS ipallow_old NEW TABLE AS ipallow_new FOR EACH STATEMENT EXECUTE FUNCTION drift_private.ip_allowlist_changed();

CREATE TRIGGER ip_allowlist_resets_index AFTER INSERT ON public.ip_allowlist_resets FOR EACH ROW EXECUTE FUNCTION drift_private.index_token('ip_reset', 'token_hash', 'id');

-- The one counter row (its UPDATE serialises allowlist changes).
INSERT INTO drift_private.ip_allowlist_seq (one, seq) VALUES (true, 0);
