CREATE FUNCTION drift_api.tenants_with_due_webhooks(p_now timestamp with time zone) RETURNS SETOF uuid
    LANGUAGE plpgsql :definer
    AS $$
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                t uuid;
            BEGIN
                FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                    PERFORM set_config('app.tenant_id', t::text, true);
                    IF EXISTS (SELECT 1 FROM public.webhook_endpoints e
                               WHERE e.active AND EXISTS (
                                   SELECT 1 FROM public.webhook_deliveries d
                                   WHERE d.endpoint_id = e.id AND d.status = 'pending'
                                     AND d.next_attempt_at <= p_now
                                     AND (d.locked_until IS NULL OR d.locked_until <= p_now)))
                    THEN
                        RETURN NEXT t;
                    END IF;
                END LOOP;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            END $$;
