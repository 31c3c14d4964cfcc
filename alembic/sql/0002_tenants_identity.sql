-- 0002_tenants_identity: tenants and identity: slug and token indexes, tenants, users, API keys, sessions, login throttle
-- Loaded by alembic/versions/0002_tenants_identity.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE TABLE drift_private.tenant_index (
    tenant_id uuid NOT NULL,
    slug text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT tenant_index_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT tenant_index_slug_key UNIQUE (slug)
);

CREATE TABLE drift_private.token_index (
    token_hash bytea NOT NULL,
    tenant_id uuid NOT NULL,
    kind text NOT NULL,
    ref_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT token_index_pkey PRIMARY KEY (token_hash)
);
CREATE INDEX token_index_tenant ON drift_private.token_index USING btree (tenant_id, kind);

CREATE TABLE public.tenants (
    tenant_id uuid NOT NULL,
    name text NOT NULL,
    slug text NOT NULL,
    plan text DEFAULT 'free'::text NOT NULL,
    seat_limit integer,
    owner_id uuid,
    audit_retention_days integer,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    owner_managed_by_idp boolean DEFAULT false NOT NULL,
    CONSTRAINT tenants_audit_retention_days_check CHECK (((audit_retention_days IS NULL) OR (audit_retention_days >= 1))),
    CONSTRAINT tenants_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200))),
    CONSTRAINT tenants_plan_check CHECK ((plan = ANY (ARRAY['free'::text, 'pro'::text, 'team'::text, 'enterprise'::text]))),
    CONSTRAINT tenants_seat_limit_check CHECK (((seat_limit IS NULL) OR (seat_limit >= 1))),
    CONSTRAINT tenants_slug_check CHECK ((slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'::text)),
    CONSTRAINT tenants_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT tenants_tenant_id_slug_key UNIQUE (tenant_id, slug)
);

SELECT drift_private.declare_tenant_table('public.tenants', 'SELECT, INSERT, UPDATE', :'app_role', p_tenant_fk => false);

CREATE TABLE public.users (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    email text,
    user_name text NOT NULL,
    display_name text,
    role text DEFAULT 'member'::text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    deprovisioned_at timestamp with time zone,
    password_hash text,
    last_active_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    external_id text,
    scim_resource jsonb,
    scim_deleted_at timestamp with time zone,
    user_name_key text GENERATED ALWAYS AS (lower(user_name)) STORED,
    email_key text GENERATED ALWAYS AS (lower(email)) STORED,
    CONSTRAINT users_email_check CHECK (((email IS NULL) OR (length(email) <= 320))),
    CONSTRAINT users_external_id_check CHECK (((external_id IS NULL) OR ((length(external_id) >= 1) AND (length(external_id) <= 1024)))),
    CONSTRAINT users_role_check CHECK ((role = ANY (ARRAY['owner'::text, 'admin'::text, 'member'::text, 'viewer'::text]))),
    CONSTRAINT users_user_name_check CHECK (((length(user_name) >= 1) AND (length(user_name) <= 320))),
    CONSTRAINT users_pkey PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX users_user_name_uq ON public.users USING btree (tenant_id, lower(user_name));
CREATE UNIQUE INDEX users_one_owner ON public.users USING btree (tenant_id) WHERE (role = 'owner'::text);
CREATE INDEX users_created ON public.users USING btree (tenant_id, created_at, id);
CREATE INDEX users_scim_user_name_key ON public.users USING btree (tenant_id, user_name_key);
CREATE INDEX users_scim_external_id ON public.users USING btree (tenant_id, external_id) WHERE (external_id IS NOT NULL);
CREATE UNIQUE INDEX users_email_uq ON public.users USING btree (tenant_id, email_key) WHERE (email_key IS NOT NULL);
SELECT drift_private.declare_tenant_table('public.users', 'SELECT, INSERT, UPDATE', :'app_role');

CREATE TABLE public.api_keys (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    sha256 bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone,
    expiry_notified_at timestamp with time zone,
    CONSTRAINT api_keys_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100))),
    CONSTRAINT api_keys_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT api_keys_tenant_id_user_id_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES public.users(tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX api_keys_user ON public.api_keys USING btree (tenant_id, user_id);
CREATE INDEX api_keys_expiring ON public.api_keys USING btree (tenant_id, expires_at) WHERE ((expires_at IS NOT NULL) AND (revoked_at IS NULL) AND (expiry_notified_at IS NULL));
ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_tenant_id_sha256_key UNIQUE (tenant_id, sha256);
SELECT drift_private.declare_tenant_table('public.api_keys', 'SELECT, INSERT, UPDATE', :'app_role', p_tenant_fk => false);

CREATE TABLE public.sessions (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    refresh_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    refreshed_at timestamp with time zone,
    revoked_at timestamp with time zone,
    ip inet,
    user_agent text,
    sso_connection_id uuid,
    CONSTRAINT sessions_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT sessions_tenant_id_user_id_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES public.users(tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX sessions_user ON public.sessions USING btree (tenant_id, user_id);
ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_tenant_id_refresh_hash_key UNIQUE (tenant_id, refresh_hash);
SELECT drift_private.declare_tenant_table('public.sessions', 'SELECT, INSERT, UPDATE', :'app_role', p_tenant_fk => false);

CREATE TABLE drift_private.auth_throttle (
    key_hash bytea NOT NULL,
    kind text NOT NULL,
    failures integer NOT NULL,
    window_start timestamp with time zone NOT NULL,
    lockouts integer NOT NULL,
    locked_until timestamp with time zone,
    last_failure_at timestamp with time zone NOT NULL,
    CONSTRAINT auth_throttle_pkey PRIMARY KEY (key_hash)
);
CREATE INDEX auth_throttle_last_failure ON drift_private.auth_throttle USING btree (last_failure_at);

ALTER TABLE ONLY public.tenants
    ADD CONSTRAINT tenants_owner_fk FOREIGN KEY (tenant_id, owner_id) REFERENCES public.users(tenant_id, id) DEFERRABLE INITIALLY DEFERRED;

\ir functions/drift_api.all_tenant_ids.v1.sql
REVOKE ALL ON FUNCTION drift_api.all_tenant_ids() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.all_tenant_ids() TO :"app_role";

\ir functions/drift_private.touch_last_use.v1.sql
REVOKE ALL ON FUNCTION drift_private.touch_last_use(p_now timestamp with time zone, p_user uuid, p_api_key uuid, p_scim_token uuid) FROM PUBLIC;

\ir functions/drift_api.authenticate_api_key.v1.sql
REVOKE ALL ON FUNCTION drift_api.authenticate_api_key(p_hash bytea, p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.authenticate_api_key(p_hash bytea, p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_api.authenticate_session.v1.sql
REVOKE ALL ON FUNCTION drift_api.authenticate_session(p_tenant uuid, p_session uuid, p_user uuid, p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.authenticate_session(p_tenant uuid, p_session uuid, p_user uuid, p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_api.list_tenants.v1.sql
REVOKE ALL ON FUNCTION drift_api.list_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.list_tenants() TO :"app_role";

\ir functions/drift_api.tenant_id_for_slug.v1.sql
REVOKE ALL ON FUNCTION drift_api.tenant_id_for_slug(p_slug text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.tenant_id_for_slug(p_slug text) TO :"app_role";

\ir functions/drift_api.throttle_clear.v1.sql
REVOKE ALL ON FUNCTION drift_api.throttle_clear(p_key bytea, p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.throttle_clear(p_key bytea, p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_api.throttle_failure.v1.sql
REVOKE ALL ON FUNCTION drift_api.throttle_failure(p_key bytea, p_kind text, p_now timestamp with time zone, p_max_failures integer, p_window_seconds integer, p_base_seconds integer, p_max_seconds integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.throttle_failure(p_key bytea, p_kind text, p_now timestamp with time zone, p_max_failures integer, p_window_seconds integer, p_base_seconds integer, p_max_seconds integer) TO :"app_role";

\ir functions/drift_api.throttle_locked_until.v1.sql
REVOKE ALL ON FUNCTION drift_api.throttle_locked_until(p_keys bytea[], p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.throttle_locked_until(p_keys bytea[], p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_api.token_tenant.v1.sql
REVOKE ALL ON FUNCTION drift_api.token_tenant(p_hash bytea, p_kind text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.token_tenant(p_hash bytea, p_kind text) TO :"app_role";

\ir functions/drift_private.check_owner.v1.sql
REVOKE ALL ON FUNCTION drift_private.check_owner() FROM PUBLIC;

\ir functions/drift_private.guard_owner.v1.sql
REVOKE ALL ON FUNCTION drift_private.guard_owner() FROM PUBLIC;

\ir functions/drift_private.index_tenant.v1.sql
REVOKE ALL ON FUNCTION drift_private.index_tenant() FROM PUBLIC;

\ir functions/drift_private.index_token.v1.sql
REVOKE ALL ON FUNCTION drift_private.index_token() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER tenants_check_owner AFTER UPDATE OF owner_id ON public.tenants DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION drift_private.check_owner();

CREATE TRIGGER tenants_index AFTER INSERT OR UPDATE OF slug ON public.tenants FOR EACH ROW EXECUTE FUNCTION drift_private.index_tenant();

CREATE CONSTRAINT TRIGGER users_check_owner AFTER UPDATE OF role, active ON public.users DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (((old.role = 'owner'::text) OR (new.role = 'owner'::text))) EXECUTE FUNCTION drift_private.check_owner();

CREATE TRIGGER users_guard_owner BEFORE UPDATE OF role, active ON public.users FOR EACH ROW WHEN (((old.role = 'owner'::text) OR (new.role = 'owner'::text))) EXECUTE FUNCTION drift_private.guard_owner();

CREATE TRIGGER api_keys_index AFTER INSERT ON public.api_keys FOR EACH ROW EXECUTE FUNCTION drift_private.index_token('api_key', 'sha256', 'id');

CREATE TRIGGER sessions_index AFTER INSERT OR UPDATE OF refresh_hash ON public.sessions FOR EACH ROW EXECUTE FUNCTION drift_private.index_token('refresh', 'refresh_hash', 'id');
