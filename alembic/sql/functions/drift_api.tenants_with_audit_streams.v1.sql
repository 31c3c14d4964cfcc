CREATE FUNCTION drift_api.tenants_with_audit_streams(p_now timestamp with time zone) RETURNS TABLE(tenant_id uuid, due boolean)
    LANGUAGE sql :definer
    AS $$
            SELECT w.tenant_id, w.due FROM drift_private.tenants_with_work('audit_streams', p_now, NULL) w
        $$;
