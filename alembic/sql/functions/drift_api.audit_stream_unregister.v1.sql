CREATE FUNCTION drift_api.audit_stream_unregister(p_listener uuid, p_tenants uuid[]) RETURNS void
    LANGUAGE sql :definer
    AS $$
                DELETE FROM drift_private.audit_stream_listeners
                 WHERE listener_id = p_listener AND tenant_id = ANY (p_tenants);
            $$;
