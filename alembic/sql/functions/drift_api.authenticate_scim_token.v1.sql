CREATE FUNCTION drift_api.authenticate_scim_token(p_hash bytea) RETURNS TABLE(status text, tenant_id uuid, token_id uuid)
    LANGUAGE plpgsql :definer
    AS $$
        #variable_conflict use_column
        DECLARE
            v_prev text := current_setting('app.tenant_id', true);
            v_tenant uuid;
            r record;
        BEGIN
            SELECT t.tenant_id INTO v_tenant FROM drift_api.token_tenant(p_hash, 'scim') t;
            IF NOT FOUND THEN RETURN; END IF;
            PERFORM set_config('app.tenant_id', v_tenant::text, true);
            SELECT s.id AS sid, s.revoked_at INTO r FROM public.scim_tokens s
             WHERE s.token_hash = p_hash;
            PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            IF NOT FOUND THEN RETURN; END IF;
            status := CASE WHEN r.revoked_at IS NULL THEN 'ok' ELSE 'revoked' END;
            tenant_id := v_tenant;
            token_id := r.sid;
            RETURN NEXT;
        END $$;
