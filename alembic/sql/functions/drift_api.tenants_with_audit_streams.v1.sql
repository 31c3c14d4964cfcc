CREATE FUNCTION drift_api.tenants_with_audit_streams(p_now timestamp with time zone) RETURNS TABLE(tenant_id uuid, due boolean)
    LANGUAGE plpgsql :definer
    AS $$
        DECLARE
            v_prev text := current_setting('app.tenant_id', true);
            t uuid;
            v_due boolean;
        BEGIN
            FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                PERFORM set_config('app.tenant_id', t::text, true);
                SELECT bool_or(s.next_attempt_at <= p_now
                               AND (s.locked_until IS NULL OR s.locked_until <= p_now)
                               AND s.delivered_through_seq < coalesce(
                                   (SELECT c.last_seq FROM public.audit_chain c
                                     WHERE c.tenant_id = t), 0))
                  INTO v_due
                  FROM public.audit_streams s
                 WHERE s.tenant_id = t AND s.status = 'active';
                IF v_due IS NOT NULL THEN
                    tenant_id := t;
                    due := v_due;
                    RETURN NEXT;
                END IF;
            END LOOP;
            PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
        END $$;
