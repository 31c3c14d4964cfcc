CREATE FUNCTION drift_private.declare_tenant_table(p_table regclass, p_privileges text, p_grantee text, p_tenant_fk boolean DEFAULT true) RETURNS void
    LANGUAGE plpgsql :pinned_search_path
    AS $$
        -- All that makes a new table a tenant table (docs/ARCHITECTURE.md), run right after
        -- its CREATE TABLE and indexes: its rows go with their tenant (<table>_tenant_id_fkey,
        -- ON DELETE CASCADE; p_tenant_fk => false where they go with a parent row through a
        -- (tenant_id, ...) key instead, or the table has no such key), row-level security and
        -- the one policy (isolate_tenant_table), and p_privileges for the runtime role.
        BEGIN
            IF p_tenant_fk THEN
                EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I FOREIGN KEY (tenant_id)'
                               ' REFERENCES public.tenants (tenant_id) ON DELETE CASCADE',
                               p_table, (SELECT relname FROM pg_class WHERE oid = p_table)
                                        || '_tenant_id_fkey');
            END IF;
            PERFORM drift_private.isolate_tenant_table(p_table);
            EXECUTE format('GRANT %s ON TABLE %s TO %I', p_privileges, p_table, p_grantee);
        END $$;
