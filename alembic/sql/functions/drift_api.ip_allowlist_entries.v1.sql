CREATE FUNCTION drift_api.ip_allowlist_entries(p_tenant uuid) RETURNS TABLE(seq bigint, id uuid, cidr cidr, expires_at timestamp with time zone, scope text, mode text)
    LANGUAGE plpgsql :definer
    AS $$
        #variable_conflict use_column
        DECLARE
            v_prev text := current_setting('app.tenant_id', true);
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant::text, true);
            RETURN QUERY
                SELECT s.seq, a.id, a.cidr, a.expires_at, a.scope, a.mode
                  FROM drift_private.ip_allowlist_seq s
                  LEFT JOIN public.ip_allowlist a ON true;
            PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
        END $$;
