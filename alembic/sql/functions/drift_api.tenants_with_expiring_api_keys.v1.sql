CREATE FUNCTION drift_api.tenants_with_expiring_api_keys(p_now timestamp with time zone, p_until timestamp with time zone) RETURNS SETOF uuid
    LANGUAGE sql :definer
    AS $$
            SELECT w.tenant_id FROM drift_private.tenants_with_work('expiring_api_keys', p_now, p_until) w
        $$;
