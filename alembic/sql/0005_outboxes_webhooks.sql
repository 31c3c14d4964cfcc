-- 0005_outboxes_webhooks: outboxes: domain events, email, webhook endpoints and deliveries
-- Loaded by alembic/versions/0005_outboxes_webhooks.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE TABLE public.outbox_events (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    type text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    data jsonb NOT NULL,
    traceparent text,
    CONSTRAINT outbox_events_pkey PRIMARY KEY (tenant_id, id)
);

CREATE INDEX outbox_events_created ON public.outbox_events USING btree (tenant_id, created_at);
SELECT drift_private.declare_tenant_table('public.outbox_events', 'SELECT, INSERT', :'app_role');

CREATE TABLE public.email_outbox (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    kind text NOT NULL,
    to_address text NOT NULL,
    subject text NOT NULL,
    body_encrypted bytea NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    locked_until timestamp with time zone,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    sent_at timestamp with time zone,
    CONSTRAINT email_outbox_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'sent'::text, 'failed'::text, 'logged'::text]))),
    CONSTRAINT email_outbox_pkey PRIMARY KEY (tenant_id, id)
);

CREATE INDEX email_outbox_due ON public.email_outbox USING btree (tenant_id, next_attempt_at) WHERE (status = 'pending'::text);
SELECT drift_private.declare_tenant_table('public.email_outbox', 'SELECT, INSERT, UPDATE', :'app_role');

CREATE TABLE public.webhook_endpoints (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    url text NOT NULL,
    description text,
    events text[] NOT NULL,
    active boolean DEFAULT true NOT NULL,
    consecutive_failures integer DEFAULT 0 NOT NULL,
    disabled_reason text,
    disabled_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    retry_policy text DEFAULT 'extended'::text NOT NULL,
    failing_since timestamp with time zone,
    project_ids uuid[],
    min_severity text,
    header_names text[],
    headers_encrypted bytea,
    rate_limit integer,
    next_send_at timestamp with time zone,
    CONSTRAINT webhook_endpoints_consecutive_failures_check CHECK ((consecutive_failures >= 0)),
    CONSTRAINT webhook_endpoints_description_check CHECK (((description IS NULL) OR (length(description) <= 500))),
    CONSTRAINT webhook_endpoints_events_check CHECK ((cardinality(events) >= 1)),
    CONSTRAINT webhook_endpoints_min_severity_check CHECK ((min_severity = ANY (ARRAY['info'::text, 'low'::text, 'medium'::text, 'high'::text, 'critical'::text]))),
    CONSTRAINT webhook_endpoints_project_ids_check CHECK (((project_ids IS NULL) OR ((cardinality(project_ids) >= 1) AND (cardinality(project_ids) <= 20)))),
    CONSTRAINT webhook_endpoints_rate_limit_check CHECK (((rate_limit >= 1) AND (rate_limit <= 10000))),
    CONSTRAINT webhook_endpoints_retry_policy_check CHECK ((retry_policy = ANY (ARRAY['fast'::text, 'extended'::text]))),
    CONSTRAINT webhook_endpoints_url_check CHECK (((length(url) >= 1) AND (length(url) <= 2048))),
    CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (tenant_id, id)
);

CREATE INDEX webhook_endpoints_created ON public.webhook_endpoints USING btree (tenant_id, created_at, id);
SELECT drift_private.declare_tenant_table('public.webhook_endpoints', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

CREATE TABLE public.webhook_secrets (
    tenant_id uuid NOT NULL,
    endpoint_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    secret_encrypted bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone,
    CONSTRAINT webhook_secrets_pkey PRIMARY KEY (tenant_id, endpoint_id, id),
    CONSTRAINT webhook_secrets_tenant_id_endpoint_id_fkey FOREIGN KEY (tenant_id, endpoint_id) REFERENCES public.webhook_endpoints(tenant_id, id) ON DELETE CASCADE
);

SELECT drift_private.declare_tenant_table('public.webhook_secrets', 'SELECT, INSERT, UPDATE, DELETE', :'app_role', p_tenant_fk => false);

CREATE TABLE public.webhook_deliveries (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    endpoint_id uuid NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempt integer DEFAULT 0 NOT NULL,
    retry_base integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone,
    locked_until timestamp with time zone,
    status_code integer,
    response_body text,
    latency_ms integer,
    error text,
    last_attempt_at timestamp with time zone,
    delivered_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT webhook_deliveries_attempt_check CHECK ((attempt >= 0)),
    CONSTRAINT webhook_deliveries_check CHECK (((status = 'pending'::text) = (next_attempt_at IS NOT NULL))),
    CONSTRAINT webhook_deliveries_retry_base_check CHECK ((retry_base >= 0)),
    CONSTRAINT webhook_deliveries_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'delivered'::text, 'failed'::text]))),
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhook_deliveries_tenant_id_endpoint_id_event_id_key UNIQUE (tenant_id, endpoint_id, event_id),
    CONSTRAINT webhook_deliveries_tenant_id_endpoint_id_fkey FOREIGN KEY (tenant_id, endpoint_id) REFERENCES public.webhook_endpoints(tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_tenant_id_event_id_fkey FOREIGN KEY (tenant_id, event_id) REFERENCES public.outbox_events(tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX webhook_deliveries_due ON public.webhook_deliveries USING btree (tenant_id, endpoint_id, next_attempt_at) WHERE (status = 'pending'::text);
CREATE INDEX webhook_deliveries_log ON public.webhook_deliveries USING btree (tenant_id, endpoint_id, created_at, id);
SELECT drift_private.declare_tenant_table('public.webhook_deliveries', 'SELECT, INSERT, UPDATE', :'app_role', p_tenant_fk => false);

CREATE TABLE public.webhook_delivery_attempts (
    tenant_id uuid NOT NULL,
    delivery_id uuid NOT NULL,
    attempt integer NOT NULL,
    attempted_at timestamp with time zone NOT NULL,
    status_code integer,
    latency_ms integer,
    error text,
    response_body text,
    CONSTRAINT webhook_delivery_attempts_pkey PRIMARY KEY (tenant_id, delivery_id, attempt),
    CONSTRAINT webhook_delivery_attempts_tenant_id_delivery_id_fkey FOREIGN KEY (tenant_id, delivery_id) REFERENCES public.webhook_deliveries(tenant_id, id) ON DELETE CASCADE
);

SELECT drift_private.declare_tenant_table('public.webhook_delivery_attempts', 'SELECT, INSERT', :'app_role', p_tenant_fk => false);

\ir functions/drift_private.queue_depths.v1.sql
REVOKE ALL ON FUNCTION drift_private.queue_depths(p_now timestamp with time zone) FROM PUBLIC;
\ir functions/drift_api.queue_stats.v1.sql
REVOKE ALL ON FUNCTION drift_api.queue_stats(p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.queue_stats(p_now timestamp with time zone) TO :"app_role";

-- The workers' polls for tenants with work (drift_api.tenants_with_*, including the audit
-- streams of 0004), one loop for all.
\ir functions/drift_private.tenants_with_work.v1.sql
REVOKE ALL ON FUNCTION drift_private.tenants_with_work(p_work text, p_now timestamp with time zone, p_until timestamp with time zone) FROM PUBLIC;

\ir functions/drift_api.tenants_with_due_email.v1.sql
REVOKE ALL ON FUNCTION drift_api.tenants_with_due_email(p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.tenants_with_due_email(p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_api.tenants_with_due_webhooks.v1.sql
REVOKE ALL ON FUNCTION drift_api.tenants_with_due_webhooks(p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.tenants_with_due_webhooks(p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_api.tenants_with_expiring_api_keys.v1.sql
REVOKE ALL ON FUNCTION drift_api.tenants_with_expiring_api_keys(p_now timestamp with time zone, p_until timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.tenants_with_expiring_api_keys(p_now timestamp with time zone, p_until timestamp with time zone) TO :"app_role";

\ir functions/drift_api.tenants_with_audit_streams.v1.sql
REVOKE ALL ON FUNCTION drift_api.tenants_with_audit_streams(p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.tenants_with_audit_streams(p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_private.notify_tenant.v1.sql
REVOKE ALL ON FUNCTION drift_private.notify_tenant() FROM PUBLIC;

CREATE TRIGGER email_outbox_notify AFTER INSERT ON public.email_outbox FOR EACH ROW EXECUTE FUNCTION drift_private.notify_tenant('drift_email');

CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON public.webhook_deliveries FOR EACH ROW WHEN ((new.status = 'pending'::text)) EXECUTE FUNCTION drift_private.notify_tenant('drift_webhooks');

CREATE TRIGGER webhook_deliveries_requeue_notify AFTER UPDATE OF status ON public.webhook_deliveries FOR EACH ROW WHEN (((new.status = 'pending'::text) AND (old.status <> 'pending'::text))) EXECUTE FUNCTION drift_private.notify_tenant('drift_webhooks');
