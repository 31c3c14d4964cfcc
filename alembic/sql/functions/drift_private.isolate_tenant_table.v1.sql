CREATE FUNCTION drift_private.isolate_tenant_table(p_table regclass) RETURNS void
    LANGUAGE plpgsql :pinned_search_path
    AS $$
        -- What makes a table a tenant table (docs/ARCHITECTURE.md): row-level security enabled
        -- and forced, and the one policy, for all commands with USING = WITH CHECK. No tenant
        -- set means NULL means no rows: fail closed.
        DECLARE
            v_tenant_only CONSTANT text :=
                'tenant_id = (SELECT NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)';
        BEGIN
            EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
            EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_table);
            EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (%s) WITH CHECK (%s)',
                           p_table, v_tenant_only, v_tenant_only);
        END $$;
