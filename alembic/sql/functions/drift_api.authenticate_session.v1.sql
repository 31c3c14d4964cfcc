CREATE FUNCTION drift_api.authenticate_session(p_tenant uuid, p_session uuid, p_user uuid, p_now timestamp with time zone) RETURNS TABLE(status text, email text, role text)
    LANGUAGE plpgsql :definer
    AS $$
            #variable_conflict use_column
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                r record;
            BEGIN
                PERFORM set_config('app.tenant_id', p_tenant::text, true);
                SELECT s.revoked_at, s.expires_at, u.email AS uemail, u.role AS urole, u.active,
                       u.last_active_at
                  INTO r
                  FROM public.sessions s
                  JOIN public.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
                 WHERE s.id = p_session AND s.user_id = p_user;
                IF NOT FOUND THEN
                    PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                    RETURN;
                END IF;
                IF r.revoked_at IS NOT NULL THEN status := 'revoked';
                ELSIF r.expires_at <= p_now THEN status := 'expired';
                ELSIF NOT r.active THEN status := 'inactive';
                ELSE
                    status := 'ok';
                    IF r.last_active_at IS NULL OR r.last_active_at < p_now - interval '60 seconds' THEN
                        PERFORM drift_private.touch_last_use(p_now, p_user);
                    END IF;
                END IF;
                email := r.uemail; role := r.urole;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                RETURN NEXT;
            END $$;
