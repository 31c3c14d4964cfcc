CREATE FUNCTION drift_api.authenticate_api_key(p_hash bytea, p_now timestamp with time zone) RETURNS TABLE(status text, tenant_id uuid, key_id uuid, user_id uuid, email text, role text)
    LANGUAGE plpgsql :definer
    AS $$
            #variable_conflict use_column
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                v_tenant uuid;
                r record;
            BEGIN
                SELECT t.tenant_id INTO v_tenant FROM drift_api.token_tenant(p_hash, 'api_key') t;
                IF NOT FOUND THEN RETURN; END IF;
                PERFORM set_config('app.tenant_id', v_tenant::text, true);
                SELECT k.id AS kid, k.revoked_at, k.expires_at, k.last_used_at,
                       u.id AS uid, u.email AS uemail, u.role AS urole, u.active,
                       u.last_active_at
                  INTO r
                  FROM public.api_keys k
                  JOIN public.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
                 WHERE k.sha256 = p_hash;
                IF NOT FOUND THEN
                    PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                    RETURN;
                END IF;
                IF r.revoked_at IS NOT NULL THEN status := 'revoked';
                ELSIF r.expires_at IS NOT NULL AND r.expires_at <= p_now THEN status := 'expired';
                ELSIF NOT r.active THEN status := 'inactive';
                ELSE
                    status := 'ok';
                    IF r.last_used_at IS NULL OR r.last_used_at < p_now - interval '60 seconds'
                       OR r.last_active_at IS NULL
                       OR r.last_active_at < p_now - interval '60 seconds' THEN
                        PERFORM drift_private.touch_last_use(p_now, r.uid, p_api_key => r.kid);
                    END IF;
                END IF;
                tenant_id := v_tenant; key_id := r.kid; user_id := r.uid;
                email := r.uemail; role := r.urole;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                RETURN NEXT;
            END $$;
