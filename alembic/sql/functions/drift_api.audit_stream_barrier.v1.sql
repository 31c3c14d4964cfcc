CREATE FUNCTION drift_api.audit_stream_barrier(p_tenant uuid) RETURNS void
    LANGUAGE plpgsql :definer
    AS $$
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
            BEGIN
                PERFORM set_config('app.tenant_id', p_tenant::text, true);
                PERFORM 1 FROM public.audit_chain c WHERE c.tenant_id = p_tenant FOR SHARE;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            END $$;
