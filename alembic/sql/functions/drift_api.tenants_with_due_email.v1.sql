CREATE FUNCTION drift_api.tenants_with_due_email(p_now timestamp with time zone) RETURNS SETOF uuid
    LANGUAGE plpgsql :definer
    AS $$
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                t uuid;
            BEGIN
                FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                    PERFORM set_config('app.tenant_id', t::text, true);
                    IF EXISTS (SELECT 1 FROM public.email_outbox e
                               WHERE e.status = 'pending' AND e.next_attempt_at <= p_now
                                 AND (e.locked_until IS NULL OR e.locked_until <= p_now)) THEN
                        RETURN NEXT t;
                    END IF;
                END LOOP;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            END $$;
