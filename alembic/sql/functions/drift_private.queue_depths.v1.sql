CREATE FUNCTION drift_private.queue_depths(p_now timestamp with time zone) RETURNS TABLE(queue text, depth bigint, due bigint, oldest_due timestamp with time zone)
    LANGUAGE plpgsql :definer
    AS $$
        -- drift_api.queue_stats' visit of every tenant: each tenant's pending webhook
        -- deliveries and emails (entered under its own RLS), as counts per queue; no tenant
        -- id leaves this function.
        DECLARE
            v_prev text := current_setting('app.tenant_id', true);
            t uuid;
        BEGIN
            FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                PERFORM set_config('app.tenant_id', t::text, true);
                RETURN QUERY
                    SELECT p.queue, count(*), count(*) FILTER (WHERE p.at <= p_now),
                           min(p.at) FILTER (WHERE p.at <= p_now)
                      FROM (SELECT 'webhooks'::text AS queue, w.next_attempt_at AS at
                              FROM public.webhook_deliveries w WHERE w.status = 'pending'
                            UNION ALL
                            SELECT 'email', m.next_attempt_at
                              FROM public.email_outbox m WHERE m.status = 'pending') p
                     GROUP BY p.queue;
            END LOOP;
            PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
        END $$;
