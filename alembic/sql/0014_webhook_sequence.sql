-- 0014_webhook_sequence: Webhooks: a per-endpoint sequence number on every delivery
-- Loaded by alembic/versions/0014_webhook_sequence.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE TABLE public.webhook_endpoint_sequences (
    tenant_id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    last_seq bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, endpoint_id),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES public.webhook_endpoints (tenant_id, id)
        ON DELETE CASCADE
);
SELECT drift_private.declare_tenant_table('public.webhook_endpoint_sequences', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

ALTER TABLE public.webhook_deliveries ADD COLUMN seq bigint;
CREATE UNIQUE INDEX webhook_deliveries_seq ON public.webhook_deliveries (tenant_id, endpoint_id, seq);

-- Number what exists, tenant by tenant (the owner is bound by FORCE RLS too).
DO $$
DECLARE
    t uuid;
BEGIN
    FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
        PERFORM set_config('app.tenant_id', t::text, true);
        UPDATE public.webhook_deliveries d SET seq = n.seq
          FROM (SELECT id, row_number() OVER (PARTITION BY endpoint_id
                                              ORDER BY created_at, id) AS seq
                  FROM public.webhook_deliveries WHERE event_type <> 'ping') n
         WHERE d.tenant_id = t AND d.id = n.id;
        INSERT INTO public.webhook_endpoint_sequences (tenant_id, endpoint_id, last_seq)
        SELECT e.tenant_id, e.id,
               coalesce((SELECT max(d.seq) FROM public.webhook_deliveries d
                          WHERE d.tenant_id = e.tenant_id AND d.endpoint_id = e.id), 0)
          FROM public.webhook_endpoints e;
    END LOOP;
    PERFORM set_config('app.tenant_id', '', true);
END $$;

-- Every event and its deliveries, in one statement whose plan the session keeps
-- (app.core.outbox.emit_many).
\ir functions/public.emit_events.v1.sql
REVOKE ALL ON FUNCTION public.emit_events(p_tenant uuid, p_ids uuid[], p_type text, p_created_at timestamp with time zone, p_data jsonb[], p_traceparent text, p_exclude_endpoint uuid, p_keys text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.emit_events(p_tenant uuid, p_ids uuid[], p_type text, p_created_at timestamp with time zone, p_data jsonb[], p_traceparent text, p_exclude_endpoint uuid, p_keys text[]) TO :"app_role";
