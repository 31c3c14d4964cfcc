CREATE FUNCTION drift_api.all_tenant_ids() RETURNS SETOF uuid
    LANGUAGE sql STABLE :definer
    AS $$
                SELECT tenant_id FROM drift_private.tenant_index ORDER BY created_at, tenant_id
            $$;
