CREATE FUNCTION public.emit_events(p_tenant uuid, p_ids uuid[], p_type text, p_created_at timestamp with time zone, p_data jsonb[], p_traceparent text, p_exclude_endpoint uuid, p_keys text[]) RETURNS void
    LANGUAGE plpgsql :pinned_search_path
    AS $$
-- Domain events (app.core.outbox.emit_many): one outbox_events row per (p_ids[i],
-- p_data[i]) of type p_type, and a webhook_deliveries row per (event, active endpoint
-- subscribed to one of p_keys, the type and its wildcards), but none for p_exclude_endpoint.
-- Each delivery takes the endpoint's next sequence number (webhook_endpoint_sequences.last_seq,
-- moved on by the UPDATE, whose row lock is held until COMMIT): gap-free per endpoint, in
-- commit order, numbered in the order of p_ids. The UPDATE first takes the tenant's advisory
-- lock (once per row it is about to change, before changing it), so two transactions that
-- emit several events to overlapping endpoints cannot lock counters in opposite orders. An
-- endpoint deleted meanwhile has no counter row left: it gets no delivery.
--
-- A function, not a statement the caller sends, so that PostgreSQL plans it once per session
-- (PL/pgSQL keeps the plan): the caller sends it inlined with COMMIT (app.core.tx.Tx.defer),
-- and as plain text this statement cost ~0.8 ms of planning on every write. SECURITY INVOKER
-- (so in public, beside the tables, not in drift_api, which holds the definer functions): it
-- does nothing the caller could not do with the statement itself, under the same row-level
-- security.
BEGIN
    WITH ev AS (
        INSERT INTO public.outbox_events (tenant_id, id, type, created_at, data, traceparent)
        SELECT p_tenant, u.i, p_type, p_created_at, u.d, p_traceparent
          FROM unnest(p_ids, p_data) AS u(i, d)
        RETURNING tenant_id, id, type, created_at, data),
    tgt AS (
        SELECT ev.tenant_id, e.id AS endpoint_id, ev.id AS event_id, ev.type, ev.created_at, o.n
          FROM ev JOIN unnest(p_ids) WITH ORDINALITY AS o(i, n) ON o.i = ev.id
          JOIN public.webhook_endpoints e ON e.tenant_id = ev.tenant_id
         WHERE e.active AND e.events && p_keys AND e.id IS DISTINCT FROM p_exclude_endpoint
           -- per-endpoint filters (NULL: none); events without a project_id pass the project
           -- filter
           AND (e.project_ids IS NULL OR NOT ev.data ? 'project_id'
                OR (ev.data->>'project_id')::uuid = ANY (e.project_ids))
           AND (e.min_severity IS NULL OR CASE ev.type
                WHEN 'violation.new' THEN
                    array_position(ARRAY['info', 'low', 'medium', 'high', 'critical'],
                                   ev.data->>'severity')
                    >= array_position(ARRAY['info', 'low', 'medium', 'high', 'critical'],
                                      e.min_severity)
                WHEN 'scan.completed' THEN EXISTS (
                    SELECT 1 FROM jsonb_each_text(ev.data->'scan'->'counts') c
                     WHERE array_position(ARRAY['info', 'low', 'medium', 'high', 'critical'],
                                          c.key)
                           >= array_position(ARRAY['info', 'low', 'medium', 'high', 'critical'],
                                             e.min_severity)
                       AND c.value::numeric > 0)
                ELSE true END)),
    seqs AS (
        UPDATE public.webhook_endpoint_sequences s SET last_seq = s.last_seq + c.k
          FROM (SELECT endpoint_id, count(*) AS k FROM tgt GROUP BY endpoint_id) c
         WHERE s.tenant_id = p_tenant AND s.endpoint_id = c.endpoint_id
           AND pg_advisory_xact_lock(hashtext('drift.webhook_seq'), hashtext(p_tenant::text))::text = ''
        RETURNING s.endpoint_id, s.last_seq - c.k AS base)
    INSERT INTO public.webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, seq,
                                           next_attempt_at, created_at, updated_at)
    SELECT t.tenant_id, t.endpoint_id, t.event_id, t.type,
           q.base + row_number() OVER (PARTITION BY t.endpoint_id ORDER BY t.n),
           t.created_at, t.created_at, t.created_at
      FROM tgt t JOIN seqs q ON q.endpoint_id = t.endpoint_id;
END $$;
