CREATE FUNCTION drift_api.queue_stats(p_now timestamp with time zone) RETURNS TABLE(queue text, depth bigint, due bigint, oldest_due timestamp with time zone)
    LANGUAGE plpgsql :definer
    AS $$
        DECLARE
            v_prev text := current_setting('app.tenant_id', true);
            t uuid;
            w_depth bigint := 0; w_due bigint := 0; w_oldest timestamptz;
            e_depth bigint := 0; e_due bigint := 0; e_oldest timestamptz;
            n bigint; d bigint; o timestamptz;
        BEGIN
            FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                PERFORM set_config('app.tenant_id', t::text, true);
                SELECT count(*), count(*) FILTER (WHERE w.next_attempt_at <= p_now),
                       min(w.next_attempt_at) FILTER (WHERE w.next_attempt_at <= p_now)
                  INTO n, d, o
                  FROM public.webhook_deliveries w WHERE w.status = 'pending';
                w_depth := w_depth + n; w_due := w_due + d;
                w_oldest := least(w_oldest, o);
                SELECT count(*), count(*) FILTER (WHERE m.next_attempt_at <= p_now),
                       min(m.next_attempt_at) FILTER (WHERE m.next_attempt_at <= p_now)
                  INTO n, d, o
                  FROM public.email_outbox m WHERE m.status = 'pending';
                e_depth := e_depth + n; e_due := e_due + d;
                e_oldest := least(e_oldest, o);
            END LOOP;
            PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            RETURN QUERY VALUES ('webhooks'::text, w_depth, w_due, w_oldest),
                                ('email'::text, e_depth, e_due, e_oldest);
        END $$;
