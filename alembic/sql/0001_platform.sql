-- 0001_platform: platform: the drift_private and drift_api schemas, default privileges
-- Loaded by alembic/versions/0001_platform.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE SCHEMA drift_api;

CREATE SCHEMA drift_private;

ALTER DEFAULT PRIVILEGES REVOKE ALL ON FUNCTIONS  FROM PUBLIC;

-- Explicit, although only the owner has privileges on a new schema: the ACL then reads
-- {owner=UC/owner} rather than the default (NULL), as it always has.
REVOKE ALL ON SCHEMA drift_private FROM PUBLIC;
REVOKE ALL ON SCHEMA drift_api FROM PUBLIC;

GRANT USAGE ON SCHEMA drift_api TO :"app_role";

GRANT USAGE ON SCHEMA public TO :"app_role";

GRANT SELECT ON TABLE public.alembic_version TO :"app_role";

-- Every tenant table's row-level security, applied by each revision that creates one.
\ir functions/drift_private.isolate_tenant_table.v1.sql
REVOKE ALL ON FUNCTION drift_private.isolate_tenant_table(regclass) FROM PUBLIC;

-- The rest of its tenancy (tenant foreign key, grants), declared with the RLS in one call.
\ir functions/drift_private.declare_tenant_table.v1.sql
REVOKE ALL ON FUNCTION drift_private.declare_tenant_table(regclass, text, text, boolean) FROM PUBLIC;
