CREATE FUNCTION drift_private.tenants_with_work(p_work text, p_now timestamp with time zone, p_until timestamp with time zone) RETURNS TABLE(tenant_id uuid, due boolean)
    LANGUAGE plpgsql :definer
    AS $$
        -- The workers' polls (drift_api.tenants_with_<p_work>): the tenants that have work of
        -- that kind, each visited under its own RLS, and whether some of it is due now (the
        -- queues and expiring keys find due work only; audit streams: every active stream).
        -- Each kind is its own static statement, so its plan is made once and serves every
        -- tenant (the webhook worker asks several times a second while busy).
        DECLARE
            v_prev text := current_setting('app.tenant_id', true);
            v_due boolean;  -- NULL: no work of that kind in the tenant
            t uuid;
        BEGIN
            FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                PERFORM set_config('app.tenant_id', t::text, true);
                CASE p_work
                WHEN 'due_email' THEN
                    SELECT true INTO v_due FROM public.email_outbox e
                     WHERE e.status = 'pending' AND e.next_attempt_at <= p_now
                       AND (e.locked_until IS NULL OR e.locked_until <= p_now)
                     LIMIT 1;
                WHEN 'due_webhooks' THEN
                    SELECT true INTO v_due FROM public.webhook_endpoints e
                     WHERE e.active AND EXISTS (
                         SELECT 1 FROM public.webhook_deliveries d
                          WHERE d.endpoint_id = e.id AND d.status = 'pending'
                            AND d.next_attempt_at <= p_now
                            AND (d.locked_until IS NULL OR d.locked_until <= p_now))
                     LIMIT 1;
                WHEN 'expiring_api_keys' THEN
                    SELECT true INTO v_due FROM public.api_keys k
                     WHERE k.expires_at IS NOT NULL AND k.revoked_at IS NULL
                       AND k.expiry_notified_at IS NULL
                       AND k.expires_at > p_now AND k.expires_at <= p_until
                     LIMIT 1;
                WHEN 'audit_streams' THEN
                    SELECT bool_or(s.next_attempt_at <= p_now
                                   AND (s.locked_until IS NULL OR s.locked_until <= p_now)
                                   AND s.delivered_through_seq < coalesce(
                                       (SELECT c.last_seq FROM public.audit_chain c
                                         WHERE c.tenant_id = t), 0))
                      INTO v_due
                      FROM public.audit_streams s
                     WHERE s.tenant_id = t AND s.status = 'active';
                END CASE;  -- any other p_work: case_not_found
                IF v_due IS NOT NULL THEN
                    tenant_id := t;
                    due := v_due;
                    RETURN NEXT;
                END IF;
            END LOOP;
            PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
        END $$;
