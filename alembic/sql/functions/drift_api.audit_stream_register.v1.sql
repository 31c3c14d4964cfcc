CREATE FUNCTION drift_api.audit_stream_register(p_listener uuid, p_tenants uuid[], p_ttl integer) RETURNS void
    LANGUAGE sql :definer
    AS $$
                INSERT INTO drift_private.audit_stream_listeners AS l
                       (tenant_id, listener_id, expires_at)
                SELECT t, p_listener, now() + make_interval(secs => least(greatest(p_ttl, 1), 600))
                  FROM unnest(p_tenants) AS t
                ON CONFLICT (tenant_id, listener_id)
                   DO UPDATE SET expires_at = EXCLUDED.expires_at;
                DELETE FROM drift_private.audit_stream_listeners
                 WHERE expires_at < now() - interval '1 hour';
            $$;
