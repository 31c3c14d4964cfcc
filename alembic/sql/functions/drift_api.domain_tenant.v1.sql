CREATE FUNCTION drift_api.domain_tenant(p_domain text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
            SELECT tenant_id FROM drift_private.domain_index WHERE domain = lower(p_domain)
        $$;
