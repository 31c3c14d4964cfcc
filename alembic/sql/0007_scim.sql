-- 0007_scim: SCIM: provisioning tokens and group mappings
-- Loaded by alembic/versions/0007_scim.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE TABLE public.scim_tokens (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    prefix text NOT NULL,
    token_hash bytea NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone,
    CONSTRAINT scim_tokens_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100))),
    CONSTRAINT scim_tokens_pkey PRIMARY KEY (tenant_id, id)
);

CREATE INDEX scim_tokens_created ON public.scim_tokens USING btree (tenant_id, created_at, id);
ALTER TABLE ONLY public.scim_tokens
    ADD CONSTRAINT scim_tokens_tenant_id_token_hash_key UNIQUE (tenant_id, token_hash);
SELECT drift_private.declare_tenant_table('public.scim_tokens', 'SELECT, INSERT, UPDATE', :'app_role');

CREATE TABLE public.scim_group_mappings (
    tenant_id uuid NOT NULL,
    group_name text NOT NULL,
    group_key text GENERATED ALWAYS AS (lower(group_name)) STORED NOT NULL,
    role text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT scim_group_mappings_group_name_check CHECK (((length(group_name) >= 1) AND (length(group_name) <= 200))),
    CONSTRAINT scim_group_mappings_role_check CHECK ((role = ANY (ARRAY['owner'::text, 'admin'::text, 'member'::text, 'viewer'::text]))),
    CONSTRAINT scim_group_mappings_pkey PRIMARY KEY (tenant_id, group_key)
);

SELECT drift_private.declare_tenant_table('public.scim_group_mappings', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

\ir functions/drift_api.authenticate_scim_token.v1.sql
REVOKE ALL ON FUNCTION drift_api.authenticate_scim_token(p_hash bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.authenticate_scim_token(p_hash bytea) TO :"app_role";

CREATE TRIGGER scim_tokens_index AFTER INSERT ON public.scim_tokens FOR EACH ROW EXECUTE FUNCTION drift_private.index_token('scim', 'token_hash', 'id');
