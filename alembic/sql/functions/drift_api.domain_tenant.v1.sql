CREATE FUNCTION drift_api.domain_tenant(p_domain text) RETURNS uuid
    LANGUAGE sql STABLE :definer
    AS $$
            SELECT tenant_id FROM drift_private.domain_index WHERE domain = lower(p_domain)
        $$;
