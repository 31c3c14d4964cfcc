-- 0003_projects_teams: projects, teams, memberships, invitations and the reachable_projects view
-- Loaded by alembic/versions/0003_projects_teams.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE TABLE public.projects (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    slug text NOT NULL,
    description text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT projects_description_check CHECK (((description IS NULL) OR (length(description) <= 2000))),
    CONSTRAINT projects_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200))),
    CONSTRAINT projects_slug_check CHECK ((slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'::text)),
    CONSTRAINT projects_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT projects_tenant_id_slug_key UNIQUE (tenant_id, slug)
);

CREATE INDEX projects_created ON public.projects USING btree (tenant_id, created_at, id);
SELECT drift_private.declare_tenant_table('public.projects', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

CREATE TABLE public.teams (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    description text,
    scim_managed boolean DEFAULT false NOT NULL,
    external_id text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    name_key text GENERATED ALWAYS AS (lower(name)) STORED,
    CONSTRAINT teams_description_check CHECK (((description IS NULL) OR (length(description) <= 2000))),
    CONSTRAINT teams_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200))),
    CONSTRAINT teams_pkey PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX teams_name_uq ON public.teams USING btree (tenant_id, lower(name));
CREATE INDEX teams_created ON public.teams USING btree (tenant_id, created_at, id);
CREATE INDEX teams_scim_name_key ON public.teams USING btree (tenant_id, name_key);
CREATE INDEX teams_scim_external_id ON public.teams USING btree (tenant_id, external_id) WHERE (external_id IS NOT NULL);
CREATE INDEX teams_scim_created ON public.teams USING btree (tenant_id, created_at, id) WHERE scim_managed;
SELECT drift_private.declare_tenant_table('public.teams', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

CREATE TABLE public.team_memberships (
    tenant_id uuid NOT NULL,
    team_id uuid NOT NULL,
    user_id uuid NOT NULL,
    role text DEFAULT 'member'::text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT team_memberships_role_check CHECK ((role = ANY (ARRAY['lead'::text, 'member'::text]))),
    CONSTRAINT team_memberships_pkey PRIMARY KEY (tenant_id, team_id, user_id),
    CONSTRAINT team_memberships_tenant_id_team_id_fkey FOREIGN KEY (tenant_id, team_id) REFERENCES public.teams(tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT team_memberships_tenant_id_user_id_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES public.users(tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX team_memberships_user ON public.team_memberships USING btree (tenant_id, user_id);
CREATE INDEX team_memberships_team_created ON public.team_memberships USING btree (tenant_id, team_id, created_at, user_id);
SELECT drift_private.declare_tenant_table('public.team_memberships', 'SELECT, INSERT, UPDATE, DELETE', :'app_role', p_tenant_fk => false);

CREATE TABLE public.team_projects (
    tenant_id uuid NOT NULL,
    team_id uuid NOT NULL,
    project_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT team_projects_pkey PRIMARY KEY (tenant_id, team_id, project_id),
    CONSTRAINT team_projects_tenant_id_project_id_fkey FOREIGN KEY (tenant_id, project_id) REFERENCES public.projects(tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT team_projects_tenant_id_team_id_fkey FOREIGN KEY (tenant_id, team_id) REFERENCES public.teams(tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX team_projects_project ON public.team_projects USING btree (tenant_id, project_id);
CREATE INDEX team_projects_team_created ON public.team_projects USING btree (tenant_id, team_id, created_at, project_id);
SELECT drift_private.declare_tenant_table('public.team_projects', 'SELECT, INSERT, UPDATE, DELETE', :'app_role', p_tenant_fk => false);

CREATE TABLE public.invitations (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    email text NOT NULL,
    role text NOT NULL,
    team_id uuid,
    token_hash bytea NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    accepted_at timestamp with time zone,
    accepted_user_id uuid,
    revoked_at timestamp with time zone,
    invited_by uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    ttl_seconds integer DEFAULT 604800 NOT NULL,
    sent_count integer DEFAULT 1 NOT NULL,
    last_sent_at timestamp with time zone,
    email_key text GENERATED ALWAYS AS (lower(email)) STORED,
    revoked_reason text,
    CONSTRAINT invitations_email_check CHECK ((length(email) <= 320)),
    CONSTRAINT invitations_revoked_reason_check CHECK (((revoked_reason IS NULL) OR (length(revoked_reason) <= 64))),
    CONSTRAINT invitations_role_check CHECK ((role = ANY (ARRAY['admin'::text, 'member'::text, 'viewer'::text]))),
    CONSTRAINT invitations_sent_count_check CHECK ((sent_count >= 1)),
    CONSTRAINT invitations_ttl_seconds_check CHECK (((ttl_seconds >= 60) AND (ttl_seconds <= 2592000))),
    CONSTRAINT invitations_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT invitations_tenant_id_team_id_fkey FOREIGN KEY (tenant_id, team_id) REFERENCES public.teams(tenant_id, id) ON DELETE SET NULL (team_id)
);

CREATE INDEX invitations_pending_created ON public.invitations USING btree (tenant_id, created_at, id) WHERE ((accepted_at IS NULL) AND (revoked_at IS NULL));
CREATE INDEX invitations_email ON public.invitations USING btree (tenant_id, email_key) WHERE ((accepted_at IS NULL) AND (revoked_at IS NULL));
ALTER TABLE ONLY public.invitations
    ADD CONSTRAINT invitations_tenant_id_token_hash_key UNIQUE (tenant_id, token_hash);
SELECT drift_private.declare_tenant_table('public.invitations', 'SELECT, INSERT, UPDATE', :'app_role');

CREATE VIEW public.reachable_projects WITH (security_barrier='true', security_invoker='true') AS
 SELECT p.tenant_id,
    p.id,
    p.name,
    p.slug,
    p.description,
    p.created_at,
    p.updated_at
   FROM public.projects p
  WHERE ((NULLIF(current_setting('app.role'::text, true), ''::text) = ANY (ARRAY['owner'::text, 'admin'::text])) OR (EXISTS ( SELECT 1
           FROM (public.team_projects tp
             JOIN public.team_memberships tm ON (((tm.tenant_id = tp.tenant_id) AND (tm.team_id = tp.team_id))))
          WHERE ((tp.tenant_id = p.tenant_id) AND (tp.project_id = p.id) AND (tm.user_id = (NULLIF(current_setting('app.user_id'::text, true), ''::text))::uuid)))));
GRANT SELECT ON TABLE public.reachable_projects TO :"app_role";

\ir functions/drift_private.guard_admin_write.v1.sql
REVOKE ALL ON FUNCTION drift_private.guard_admin_write() FROM PUBLIC;

\ir functions/drift_private.guard_project_write.v1.sql
REVOKE ALL ON FUNCTION drift_private.guard_project_write() FROM PUBLIC;

CREATE TRIGGER projects_guard_write BEFORE INSERT OR DELETE OR UPDATE ON public.projects FOR EACH ROW EXECUTE FUNCTION drift_private.guard_project_write();

CREATE TRIGGER teams_guard_write BEFORE INSERT OR DELETE OR UPDATE ON public.teams FOR EACH ROW EXECUTE FUNCTION drift_private.guard_admin_write();

CREATE TRIGGER team_memberships_guard_write BEFORE INSERT OR DELETE OR UPDATE ON public.team_memberships FOR EACH ROW EXECUTE FUNCTION drift_private.guard_admin_write();

CREATE TRIGGER team_projects_guard_write BEFORE INSERT OR DELETE OR UPDATE ON public.team_projects FOR EACH ROW EXECUTE FUNCTION drift_private.guard_admin_write();

CREATE TRIGGER invitations_guard_write BEFORE INSERT OR DELETE OR UPDATE ON public.invitations FOR EACH ROW EXECUTE FUNCTION drift_private.guard_admin_write();

CREATE TRIGGER invitations_index AFTER INSERT OR UPDATE OF token_hash ON public.invitations FOR EACH ROW EXECUTE FUNCTION drift_private.index_token('invitation', 'token_hash', 'id');
