-- 0009_sso_domains: SSO and verified domains
-- Loaded by alembic/versions/0009_sso_domains.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE TABLE public.verified_domains (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    domain text NOT NULL,
    token text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    verified_at timestamp with time zone,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT verified_domains_domain_check CHECK (((length(domain) >= 3) AND (length(domain) <= 253))),
    CONSTRAINT verified_domains_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'verified'::text]))),
    CONSTRAINT verified_domains_token_check CHECK (((length(token) >= 16) AND (length(token) <= 100))),
    CONSTRAINT verified_domains_domain_uq UNIQUE (tenant_id, domain),
    CONSTRAINT verified_domains_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT verified_domains_tenant_id_created_by_fkey FOREIGN KEY (tenant_id, created_by) REFERENCES public.users(tenant_id, id) ON DELETE SET NULL (created_by)
);

CREATE INDEX verified_domains_created ON public.verified_domains USING btree (tenant_id, created_at, id);
SELECT drift_private.declare_tenant_table('public.verified_domains', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

CREATE TABLE drift_private.domain_index (
    domain text NOT NULL,
    tenant_id uuid NOT NULL,
    domain_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT domain_index_pkey PRIMARY KEY (domain)
);

CREATE TABLE public.sso_connections (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    protocol text NOT NULL,
    name text NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    config jsonb DEFAULT '{}'::jsonb NOT NULL,
    secret_enc bytea,
    jit_provisioning boolean DEFAULT false NOT NULL,
    default_role text DEFAULT 'member'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT sso_connections_default_role_check CHECK ((default_role = ANY (ARRAY['admin'::text, 'member'::text, 'viewer'::text]))),
    CONSTRAINT sso_connections_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100))),
    CONSTRAINT sso_connections_protocol_check CHECK ((protocol = ANY (ARRAY['oidc'::text, 'saml'::text]))),
    CONSTRAINT sso_connections_pkey PRIMARY KEY (tenant_id, id)
);

CREATE INDEX sso_connections_created ON public.sso_connections USING btree (tenant_id, created_at, id);
SELECT drift_private.declare_tenant_table('public.sso_connections', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

CREATE TABLE public.sso_settings (
    tenant_id uuid NOT NULL,
    enforced boolean DEFAULT false NOT NULL,
    owner_break_glass boolean DEFAULT true NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT sso_settings_pkey PRIMARY KEY (tenant_id)
);

SELECT drift_private.declare_tenant_table('public.sso_settings', 'SELECT, INSERT, UPDATE', :'app_role');

CREATE TABLE public.sso_login_states (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    state_hash bytea NOT NULL,
    connection_id uuid NOT NULL,
    browser_hash bytea NOT NULL,
    nonce text NOT NULL,
    code_verifier text NOT NULL,
    return_to text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    CONSTRAINT sso_login_states_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT sso_login_states_tenant_id_state_hash_key UNIQUE (tenant_id, state_hash),
    CONSTRAINT sso_login_states_tenant_id_connection_id_fkey FOREIGN KEY (tenant_id, connection_id) REFERENCES public.sso_connections(tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX sso_login_states_expires ON public.sso_login_states USING btree (tenant_id, expires_at);
SELECT drift_private.declare_tenant_table('public.sso_login_states', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

CREATE TABLE public.sso_login_codes (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    code_hash bytea NOT NULL,
    session_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    CONSTRAINT sso_login_codes_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT sso_login_codes_tenant_id_code_hash_key UNIQUE (tenant_id, code_hash),
    CONSTRAINT sso_login_codes_tenant_id_session_id_fkey FOREIGN KEY (tenant_id, session_id) REFERENCES public.sessions(tenant_id, id) ON DELETE CASCADE
);

SELECT drift_private.declare_tenant_table('public.sso_login_codes', 'SELECT, INSERT, UPDATE', :'app_role');

CREATE TABLE public.sso_saml_replay (
    tenant_id uuid NOT NULL,
    assertion_id text NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT sso_saml_replay_assertion_id_check CHECK (((length(assertion_id) >= 1) AND (length(assertion_id) <= 256))),
    CONSTRAINT sso_saml_replay_pkey PRIMARY KEY (tenant_id, assertion_id)
);

CREATE INDEX sso_saml_replay_expires ON public.sso_saml_replay USING btree (tenant_id, expires_at);
SELECT drift_private.declare_tenant_table('public.sso_saml_replay', 'SELECT, INSERT, DELETE', :'app_role');

\ir functions/drift_api.domain_tenant.v1.sql
REVOKE ALL ON FUNCTION drift_api.domain_tenant(p_domain text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.domain_tenant(p_domain text) TO :"app_role";

\ir functions/drift_private.index_domain.v1.sql
REVOKE ALL ON FUNCTION drift_private.index_domain() FROM PUBLIC;

CREATE TRIGGER verified_domains_index AFTER INSERT OR DELETE OR UPDATE OF status ON public.verified_domains FOR EACH ROW EXECUTE FUNCTION drift_private.index_domain();
