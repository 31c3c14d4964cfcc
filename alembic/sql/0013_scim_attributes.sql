-- 0013_scim_attributes: SCIM custom attributes: a tenant's own User attributes and their filter index
-- Loaded by alembic/versions/0013_scim_attributes.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE TABLE public.scim_custom_attributes (
    tenant_id uuid NOT NULL,
    name text NOT NULL CHECK (name ~ '^[A-Za-z][A-Za-z0-9_-]{0,63}$'),
    name_key text GENERATED ALWAYS AS (lower(name)) STORED,
    type text NOT NULL CHECK (type IN ('string', 'boolean', 'integer', 'dateTime')),
    required boolean NOT NULL DEFAULT false,
    case_exact boolean NOT NULL DEFAULT false,
    description text NOT NULL DEFAULT '',
    position integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name_key)
);
SELECT drift_private.declare_tenant_table('public.scim_custom_attributes', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

CREATE TABLE public.scim_custom_values (
    tenant_id uuid NOT NULL,
    user_id uuid NOT NULL,
    name_key text NOT NULL,
    value_key text NOT NULL,
    PRIMARY KEY (tenant_id, user_id, name_key),
    FOREIGN KEY (tenant_id, user_id) REFERENCES public.users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, name_key)
        REFERENCES public.scim_custom_attributes (tenant_id, name_key) ON DELETE CASCADE
);
CREATE INDEX scim_custom_values_lookup ON public.scim_custom_values (tenant_id, name_key, value_key);
SELECT drift_private.declare_tenant_table('public.scim_custom_values', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

-- A SCIM create's INSERT and its guards, in one statement whose plan the session keeps
-- (app.scim.repository.users.insert).
\ir functions/public.scim_insert_user.v1.sql
REVOKE ALL ON FUNCTION public.scim_insert_user(p_tenant uuid, p_id uuid, p_user_name text, p_external_id text, p_display_name text, p_email text, p_active boolean, p_doc jsonb, p_now timestamp with time zone, p_unless_seat_limit boolean, p_unless_invited text[], p_unless_required_custom boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.scim_insert_user(p_tenant uuid, p_id uuid, p_user_name text, p_external_id text, p_display_name text, p_email text, p_active boolean, p_doc jsonb, p_now timestamp with time zone, p_unless_seat_limit boolean, p_unless_invited text[], p_unless_required_custom boolean) TO :"app_role";
