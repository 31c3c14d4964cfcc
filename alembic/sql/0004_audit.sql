-- 0004_audit: audit log: partitioned immutable events, hash chain, retention, live streams
-- Loaded by alembic/versions/0004_audit.py through app.core.migrate.run_sql (see alembic/README.md).

CREATE TABLE public.audit_events (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    actor_type text NOT NULL,
    actor_id uuid,
    actor_email text,
    action text NOT NULL,
    resource_type text NOT NULL,
    resource_id text,
    outcome text NOT NULL,
    ip inet,
    user_agent text,
    request_id text,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    seq bigint NOT NULL,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL,
    actor_email_key text GENERATED ALWAYS AS (lower(actor_email)) STORED,
    action_verb text GENERATED ALWAYS AS (split_part(action, '.'::text, '-1'::integer)) STORED COLLATE pg_catalog."C",
    CONSTRAINT audit_events_action_check CHECK ((action ~ '^[a-z_]+\.[a-z_]+$'::text)),
    CONSTRAINT audit_events_actor_type_check CHECK ((actor_type = ANY (ARRAY['user'::text, 'api_key'::text, 'scim'::text, 'system'::text]))),
    CONSTRAINT audit_events_outcome_check CHECK ((outcome = ANY (ARRAY['success'::text, 'failure'::text, 'denied'::text]))),
    CONSTRAINT audit_events_pkey PRIMARY KEY (tenant_id, created_at, id)
)
PARTITION BY RANGE (created_at);

CREATE INDEX audit_events_seq ON public.audit_events USING btree (tenant_id, seq);
CREATE INDEX audit_events_actor_seq ON public.audit_events USING btree (tenant_id, actor_id, seq);
CREATE INDEX audit_events_action_seq ON public.audit_events USING btree (tenant_id, action COLLATE "C", seq);
CREATE INDEX audit_events_resource ON public.audit_events USING btree (tenant_id, resource_type, resource_id, seq);
CREATE INDEX audit_events_actor_email ON public.audit_events USING btree (tenant_id, actor_email_key, seq);
CREATE INDEX audit_events_outcome_seq ON public.audit_events USING btree (tenant_id, outcome, seq) WHERE (outcome <> 'success'::text);
CREATE INDEX audit_events_outcome_action_seq ON public.audit_events USING btree (tenant_id, outcome, action COLLATE "C", seq) WHERE (outcome <> 'success'::text);
CREATE INDEX audit_events_action_verb_seq ON public.audit_events USING btree (tenant_id, action_verb, seq);
SELECT drift_private.declare_tenant_table('public.audit_events', 'SELECT, INSERT', :'app_role', p_tenant_fk => false);

CREATE TABLE public.audit_chain (
    tenant_id uuid NOT NULL,
    last_seq bigint DEFAULT 0 NOT NULL,
    prev_hash bytea DEFAULT decode(repeat('00'::text, 32), 'hex'::text) NOT NULL,
    last_hash bytea DEFAULT decode(repeat('00'::text, 32), 'hex'::text) NOT NULL,
    retained_seq bigint DEFAULT 0 NOT NULL,
    retained_hash bytea DEFAULT decode(repeat('00'::text, 32), 'hex'::text) NOT NULL,
    retained_at timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT audit_chain_check CHECK ((retained_seq <= last_seq)),
    CONSTRAINT audit_chain_pkey PRIMARY KEY (tenant_id)
)
WITH (fillfactor='50');

SELECT drift_private.declare_tenant_table('public.audit_chain', 'SELECT', :'app_role', p_tenant_fk => false);
COMMENT ON TABLE public.audit_chain IS 'Per-tenant head of the audit hash chain. last_seq/last_hash: the newest event; retained_seq/retained_hash: the newest event removed by retention (its hash is the prev_hash of the oldest kept event). Written only by the audit_events trigger and the retention functions.';

CREATE TABLE public.audit_retention_notices (
    tenant_id uuid NOT NULL,
    notified_at timestamp with time zone NOT NULL,
    cutoff timestamp with time zone NOT NULL,
    purge_from timestamp with time zone NOT NULL,
    prior_cutoff timestamp with time zone,
    events bigint NOT NULL,
    retention_days integer NOT NULL,
    CONSTRAINT audit_retention_notices_check CHECK (((prior_cutoff IS NULL) OR (prior_cutoff <= cutoff))),
    CONSTRAINT audit_retention_notices_events_check CHECK ((events >= 0)),
    CONSTRAINT audit_retention_notices_pkey PRIMARY KEY (tenant_id)
);

SELECT drift_private.declare_tenant_table('public.audit_retention_notices', 'SELECT, INSERT, UPDATE', :'app_role');

CREATE TABLE public.audit_streams (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    type text NOT NULL,
    url text NOT NULL,
    token_encrypted bytea NOT NULL,
    filters jsonb DEFAULT '{}'::jsonb NOT NULL,
    options jsonb DEFAULT '{}'::jsonb NOT NULL,
    status text DEFAULT 'active'::text NOT NULL,
    delivered_through_seq bigint DEFAULT 0 NOT NULL,
    delivered_events bigint DEFAULT 0 NOT NULL,
    consecutive_failures integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    locked_until timestamp with time zone,
    lease_id uuid,
    last_success_at timestamp with time zone,
    last_error text,
    last_error_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT audit_streams_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100))),
    CONSTRAINT audit_streams_status_check CHECK ((status = ANY (ARRAY['active'::text, 'paused'::text]))),
    CONSTRAINT audit_streams_type_check CHECK ((type = ANY (ARRAY['splunk_hec'::text, 'datadog'::text, 'https_ndjson'::text]))),
    CONSTRAINT audit_streams_url_check CHECK (((length(url) >= 1) AND (length(url) <= 2048))),
    CONSTRAINT audit_streams_pkey PRIMARY KEY (tenant_id, id)
);

CREATE INDEX audit_streams_created ON public.audit_streams USING btree (tenant_id, created_at, id);
SELECT drift_private.declare_tenant_table('public.audit_streams', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

CREATE TABLE public.audit_stream_tickets (
    tenant_id uuid NOT NULL,
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    ticket_hash bytea NOT NULL,
    credential_type text NOT NULL,
    credential_id uuid NOT NULL,
    user_id uuid NOT NULL,
    created_ip inet,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    used_ip inet,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT audit_stream_tickets_credential_type_check CHECK ((credential_type = ANY (ARRAY['api_key'::text, 'session'::text]))),
    CONSTRAINT audit_stream_tickets_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT audit_stream_tickets_tenant_id_user_id_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES public.users(tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX audit_stream_tickets_expires ON public.audit_stream_tickets USING btree (tenant_id, expires_at);
ALTER TABLE ONLY public.audit_stream_tickets
    ADD CONSTRAINT audit_stream_tickets_tenant_id_ticket_hash_key UNIQUE (tenant_id, ticket_hash);
SELECT drift_private.declare_tenant_table('public.audit_stream_tickets', 'SELECT, INSERT, UPDATE, DELETE', :'app_role');

CREATE TABLE drift_private.audit_stream_listeners (
    tenant_id uuid NOT NULL,
    listener_id uuid NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    CONSTRAINT audit_stream_listeners_pkey PRIMARY KEY (tenant_id, listener_id)
);

\ir functions/drift_api.audit_canonical.v1.sql
REVOKE ALL ON FUNCTION drift_api.audit_canonical(p_tenant uuid, p_seq bigint, p_id uuid, p_created_at timestamp with time zone, p_actor_type text, p_actor_id uuid, p_actor_email text, p_action text, p_resource_type text, p_resource_id text, p_outcome text, p_ip inet, p_user_agent text, p_request_id text, p_metadata jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.audit_canonical(p_tenant uuid, p_seq bigint, p_id uuid, p_created_at timestamp with time zone, p_actor_type text, p_actor_id uuid, p_actor_email text, p_action text, p_resource_type text, p_resource_id text, p_outcome text, p_ip inet, p_user_agent text, p_request_id text, p_metadata jsonb) TO :"app_role";

\ir functions/drift_api.audit_drop_expired_partitions.v1.sql
REVOKE ALL ON FUNCTION drift_api.audit_drop_expired_partitions(p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.audit_drop_expired_partitions(p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_api.audit_retention_days.v1.sql
REVOKE ALL ON FUNCTION drift_api.audit_retention_days(p_plan text, p_custom integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.audit_retention_days(p_plan text, p_custom integer) TO :"app_role";

\ir functions/drift_api.audit_retention_purge.v1.sql
REVOKE ALL ON FUNCTION drift_api.audit_retention_purge(p_tenant uuid, p_now timestamp with time zone, p_batch integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.audit_retention_purge(p_tenant uuid, p_now timestamp with time zone, p_batch integer) TO :"app_role";

\ir functions/drift_api.audit_stream_barrier.v1.sql
REVOKE ALL ON FUNCTION drift_api.audit_stream_barrier(p_tenant uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.audit_stream_barrier(p_tenant uuid) TO :"app_role";

\ir functions/drift_api.audit_stream_register.v1.sql
REVOKE ALL ON FUNCTION drift_api.audit_stream_register(p_listener uuid, p_tenants uuid[], p_ttl integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.audit_stream_register(p_listener uuid, p_tenants uuid[], p_ttl integer) TO :"app_role";

\ir functions/drift_api.audit_stream_unregister.v1.sql
REVOKE ALL ON FUNCTION drift_api.audit_stream_unregister(p_listener uuid, p_tenants uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.audit_stream_unregister(p_listener uuid, p_tenants uuid[]) TO :"app_role";

\ir functions/drift_api.ensure_audit_partitions.v1.sql
REVOKE ALL ON FUNCTION drift_api.ensure_audit_partitions(p_from date, p_months integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.ensure_audit_partitions(p_from date, p_months integer) TO :"app_role";

\ir functions/drift_private.audit_chain_step.v1.sql
REVOKE ALL ON FUNCTION drift_private.audit_chain_step() FROM PUBLIC;

\ir functions/drift_private.audit_events_immutable.v1.sql
REVOKE ALL ON FUNCTION drift_private.audit_events_immutable() FROM PUBLIC;

\ir functions/drift_private.secure_audit_partition.v1.sql
REVOKE ALL ON FUNCTION drift_private.secure_audit_partition(p_part text) FROM PUBLIC;

\ir functions/drift_private.unindex_stream_ticket.v1.sql
REVOKE ALL ON FUNCTION drift_private.unindex_stream_ticket() FROM PUBLIC;

CREATE TRIGGER audit_events_chain BEFORE INSERT ON public.audit_events FOR EACH ROW EXECUTE FUNCTION drift_private.audit_chain_step();

CREATE TRIGGER audit_events_immutable BEFORE DELETE OR UPDATE ON public.audit_events FOR EACH ROW EXECUTE FUNCTION drift_private.audit_events_immutable();

CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON public.audit_events FOR EACH STATEMENT EXECUTE FUNCTION drift_private.audit_events_immutable();

CREATE TRIGGER audit_stream_tickets_index AFTER INSERT ON public.audit_stream_tickets FOR EACH ROW EXECUTE FUNCTION drift_private.index_token('stream_ticket', 'ticket_hash', 'id');

CREATE TRIGGER audit_stream_tickets_unindex AFTER DELETE ON public.audit_stream_tickets FOR EACH ROW EXECUTE FUNCTION drift_private.unindex_stream_ticket();

-- The default partition, and monthly ones from last month to three months ahead (as many
-- as the worker's daily audit-partitions job keeps ahead, app/worker.py).
SELECT drift_api.ensure_audit_partitions((date_trunc('month', current_date) - interval '1 month')::date, 4);
