CREATE FUNCTION drift_api.tenants_with_due_email(p_now timestamp with time zone) RETURNS SETOF uuid
    LANGUAGE sql :definer
    AS $$
            SELECT w.tenant_id FROM drift_private.tenants_with_work('due_email', p_now, NULL) w
        $$;
