-- Undoes 0001_platform.sql, in reverse order.

DROP FUNCTION drift_private.declare_tenant_table(regclass, text, text, boolean);
DROP FUNCTION drift_private.isolate_tenant_table(regclass);
REVOKE SELECT ON TABLE public.alembic_version FROM :"app_role";
REVOKE USAGE ON SCHEMA public FROM :"app_role";
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
DROP SCHEMA drift_private;
DROP SCHEMA drift_api;
