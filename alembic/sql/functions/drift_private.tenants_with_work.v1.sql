CREATE FUNCTION drift_private.tenants_with_work(p_work text, p_now timestamp with time zone, p_until timestamp with time zone) RETURNS SETOF uuid
    LANGUAGE plpgsql :definer
    AS $$
        -- The workers' polls (drift_api.tenants_with_<p_work>): the tenants that have work
        -- of that kind, each visited under its own RLS. Each kind is its own static
        -- statement, so its plan is made once and serves every tenant (the webhook worker
        -- asks several times a second while busy).
        DECLARE
            v_prev text := current_setting('app.tenant_id', true);
            v_found boolean;
            t uuid;
        BEGIN
            FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                PERFORM set_config('app.tenant_id', t::text, true);
                CASE p_work
                WHEN 'due_email' THEN
                    v_found := EXISTS (
                        SELECT 1 FROM public.email_outbox e
                         WHERE e.status = 'pending' AND e.next_attempt_at <= p_now
                           AND (e.locked_until IS NULL OR e.locked_until <= p_now));
                WHEN 'due_webhooks' THEN
                    v_found := EXISTS (
                        SELECT 1 FROM public.webhook_endpoints e
                         WHERE e.active AND EXISTS (
                             SELECT 1 FROM public.webhook_deliveries d
                              WHERE d.endpoint_id = e.id AND d.status = 'pending'
                                AND d.next_attempt_at <= p_now
                                AND (d.locked_until IS NULL OR d.locked_until <= p_now)));
                WHEN 'expiring_api_keys' THEN
                    v_found := EXISTS (
                        SELECT 1 FROM public.api_keys k
                         WHERE k.expires_at IS NOT NULL AND k.revoked_at IS NULL
                           AND k.expiry_notified_at IS NULL
                           AND k.expires_at > p_now AND k.expires_at <= p_until);
                END CASE;  -- any other p_work: case_not_found
                IF v_found THEN
                    RETURN NEXT t;
                END IF;
            END LOOP;
            PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
        END $$;
