CREATE FUNCTION drift_api.tenants_with_expiring_api_keys(p_now timestamp with time zone, p_until timestamp with time zone) RETURNS SETOF uuid
    LANGUAGE plpgsql :definer
    AS $$
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                t uuid;
            BEGIN
                FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                    PERFORM set_config('app.tenant_id', t::text, true);
                    IF EXISTS (SELECT 1 FROM public.api_keys k
                               WHERE k.expires_at IS NOT NULL AND k.revoked_at IS NULL
                                 AND k.expiry_notified_at IS NULL
                                 AND k.expires_at > p_now AND k.expires_at <= p_until) THEN
                        RETURN NEXT t;
                    END IF;
                END LOOP;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            END $$;
