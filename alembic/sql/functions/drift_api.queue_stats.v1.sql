CREATE FUNCTION drift_api.queue_stats(p_now timestamp with time zone) RETURNS TABLE(queue text, depth bigint, due bigint, oldest_due timestamp with time zone)
    LANGUAGE sql :definer
    AS $$
        -- GET /metrics: each queue's pending items summed over all tenants (aggregates only;
        -- an empty queue still has its row)
        SELECT k.queue, coalesce(sum(d.depth), 0)::bigint, coalesce(sum(d.due), 0)::bigint,
               min(d.oldest_due)
          FROM (VALUES ('webhooks'::text), ('email')) AS k(queue)
          LEFT JOIN drift_private.queue_depths(p_now) d ON d.queue = k.queue
         GROUP BY k.queue
         ORDER BY k.queue = 'email', k.queue;
    $$;
