CREATE FUNCTION drift_api.all_tenant_ids() RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
                SELECT tenant_id FROM drift_private.tenant_index ORDER BY created_at, tenant_id
            $$;
