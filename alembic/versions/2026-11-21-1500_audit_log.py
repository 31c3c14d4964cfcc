"""audit log: per-tenant sequence and hash chain, query indexes, live-stream NOTIFY, retention

Revision ID: 0300_audit_log
Revises: 0500_ipallow
Create Date: 2026-11-21 15:00

Every audit event gets, at INSERT time and under a per-tenant lock (the tenant's row in
`audit_chain`, held until the inserting transaction ends):
  seq        1, 2, 3, ... per tenant, in commit order (see docs/audit.md, "Ordering")
  prev_hash  the hash of the tenant's previous event (32 zero bytes before the first)
  hash       sha256(prev_hash || drift_api.audit_canonical(event))
The BEFORE INSERT trigger assigns all three, whatever the inserting statement supplied, so the
runtime role cannot forge them. The same trigger NOTIFYs `drift_audit` with "<tenant> <seq>"
(delivered at commit) for the live stream.

Retention runs only through two definer functions: `drift_api.audit_retention_purge` deletes a
tenant's expired events oldest first (and only a prefix of its sequence, so the surviving chain
stays verifiable from the stored boundary), and `drift_api.audit_drop_expired_partitions`
drops monthly partitions that are past every tenant's window. Both clamp the caller's clock to
the server's, so no caller can make them delete anything younger than the policy allows.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0300_audit_log"
down_revision: str | Sequence[str] | None = "0500_ipallow"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
ZERO_HASH = "decode(repeat('00', 32), 'hex')"

# The canonical form of an event, hashed into the chain. Versioned so it can evolve.
CANONICAL_ARGS = ("p_tenant uuid, p_seq bigint, p_id uuid, p_created_at timestamptz, "
                  "p_actor_type text, p_actor_id uuid, p_actor_email text, p_action text, "
                  "p_resource_type text, p_resource_id text, p_outcome text, p_ip inet, "
                  "p_user_agent text, p_request_id text, p_metadata jsonb")
CANONICAL_SIG = ("drift_api.audit_canonical(uuid, bigint, uuid, timestamptz, text, uuid, text, "
                 "text, text, text, text, inet, text, text, jsonb)")


def _canonical_call(row: str, seq: str) -> str:
    return (f"drift_api.audit_canonical({row}.tenant_id, {seq}, {row}.id, {row}.created_at, "
            f"{row}.actor_type, {row}.actor_id, {row}.actor_email, {row}.action, "
            f"{row}.resource_type, {row}.resource_id, {row}.outcome, {row}.ip, "
            f"{row}.user_agent, {row}.request_id, {row}.metadata)")


def upgrade() -> None:
    app = app_role()
    sql: list[str] = [
        # ---- chain columns (the table is partitioned: they reach every partition) ----
        "ALTER TABLE audit_events ADD COLUMN seq bigint, ADD COLUMN prev_hash bytea,"
        " ADD COLUMN hash bytea",
        # ---- the chain head per tenant: the lock that orders a tenant's events ----
        f"""CREATE TABLE audit_chain (
            tenant_id uuid PRIMARY KEY,
            last_seq bigint NOT NULL DEFAULT 0,
            prev_hash bytea NOT NULL DEFAULT {ZERO_HASH},
            last_hash bytea NOT NULL DEFAULT {ZERO_HASH},
            retained_seq bigint NOT NULL DEFAULT 0,
            retained_hash bytea NOT NULL DEFAULT {ZERO_HASH},
            retained_at timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now(),
            CHECK (retained_seq <= last_seq)
        ) WITH (fillfactor = 50)""",  # updated on every event: leave room for HOT updates
        "COMMENT ON TABLE audit_chain IS 'Per-tenant head of the audit hash chain. last_seq/"
        "last_hash: the newest event; retained_seq/retained_hash: the newest event removed by "
        "retention (its hash is the prev_hash of the oldest kept event). Written only by the "
        "audit_events trigger and the retention functions.'",
        *tenant_rls("audit_chain"),
        f"GRANT SELECT ON audit_chain TO {app}",
        # ---- canonical form ----
        f"""CREATE FUNCTION drift_api.audit_canonical({CANONICAL_ARGS}) RETURNS bytea
            LANGUAGE sql STABLE {DEFINER} AS $$
            SELECT convert_to(jsonb_build_array(
                'drift.audit.v1', p_tenant::text, p_seq, p_id::text,
                to_char(p_created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                p_actor_type, p_actor_id::text, p_actor_email, p_action, p_resource_type,
                p_resource_id, p_outcome, p_ip::text, p_user_agent, p_request_id,
                p_metadata)::text, 'UTF8')
        $$""",
        f"REVOKE EXECUTE ON FUNCTION {CANONICAL_SIG} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {CANONICAL_SIG} TO {app}",
        # ---- who streams which tenant (per API process, with a lease) ----
        """CREATE TABLE drift_private.audit_stream_listeners (
            tenant_id uuid NOT NULL,
            listener_id uuid NOT NULL,
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, listener_id)
        )""",
        # ---- the chain step: runs for every inserted event ----
        f"""CREATE FUNCTION drift_private.audit_chain_step() RETURNS trigger
            LANGUAGE plpgsql {DEFINER} AS $$
        DECLARE
            v_seq bigint;
            v_prev bytea;
            v_hash bytea;
        BEGIN
            -- Lock the tenant's chain head (held until this transaction ends, so the next
            -- event of this tenant is numbered only after this one has committed or rolled
            -- back), take the next number and link the hash, in one statement.
            UPDATE public.audit_chain c
               SET last_seq = c.last_seq + 1,
                   prev_hash = c.last_hash,
                   last_hash = sha256(c.last_hash || {_canonical_call('NEW', 'c.last_seq + 1')}),
                   updated_at = now()
             WHERE c.tenant_id = NEW.tenant_id
            RETURNING c.last_seq, c.prev_hash, c.last_hash INTO v_seq, v_prev, v_hash;
            IF NOT FOUND THEN
                INSERT INTO public.audit_chain AS c (tenant_id, last_seq, prev_hash, last_hash)
                VALUES (NEW.tenant_id, 1, {ZERO_HASH},
                        sha256({ZERO_HASH} || {_canonical_call('NEW', '1::bigint')}))
                ON CONFLICT (tenant_id) DO UPDATE
                   SET last_seq = c.last_seq + 1,
                       prev_hash = c.last_hash,
                       last_hash = sha256(c.last_hash || {_canonical_call('NEW', 'c.last_seq + 1')}),
                       updated_at = now()
                RETURNING c.last_seq, c.prev_hash, c.last_hash INTO v_seq, v_prev, v_hash;
            END IF;
            NEW.seq := v_seq;
            NEW.prev_hash := v_prev;
            NEW.hash := v_hash;
            -- For the live stream, only while someone streams this tenant: a NOTIFY makes
            -- COMMIT take a database-wide lock, which costs every writer when nobody listens.
            -- Delivered only if this transaction commits.
            IF EXISTS (SELECT 1 FROM drift_private.audit_stream_listeners l
                        WHERE l.tenant_id = NEW.tenant_id AND l.expires_at > now()) THEN
                PERFORM pg_notify('drift_audit', NEW.tenant_id::text || ' ' || v_seq::text);
            END IF;
            RETURN NEW;
        END $$""",
        "REVOKE EXECUTE ON FUNCTION drift_private.audit_chain_step() FROM PUBLIC",
    ]
    sql += _backfill_sql()
    sql += [
        """CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
            FOR EACH ROW EXECUTE FUNCTION drift_private.audit_chain_step()""",
        "ALTER TABLE audit_events ALTER COLUMN seq SET NOT NULL,"
        " ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL",
        # ---- indexes: pages are ordered by seq, so the filters' indexes end in seq ----
        "CREATE INDEX audit_events_seq ON audit_events (tenant_id, seq)",
        "CREATE INDEX audit_events_actor_seq ON audit_events (tenant_id, actor_id, seq)",
        "CREATE INDEX audit_events_actor_email ON audit_events"
        " (tenant_id, lower(actor_email), seq)",
        # "C" collation: `action` prefix filters (project.*) become an index range
        'CREATE INDEX audit_events_action_seq ON audit_events (tenant_id, action COLLATE "C", seq)',
        "CREATE INDEX audit_events_resource ON audit_events"
        " (tenant_id, resource_type, resource_id, seq)",
        # superseded by the seq-ordered ones above
        "DROP INDEX audit_events_actor",
        "DROP INDEX audit_events_action",
    ]
    sql += _retention_sql(app)
    for stmt in sql:
        op.execute(stmt)


def _backfill_sql() -> list[str]:
    """Number and chain the events that exist already, per tenant in (created_at, id) order.

    Runs before the chain trigger exists. The owner is bound by FORCE RLS, so it is lifted for
    the duration of this migration's transaction (and restored in it), as is the immutability
    trigger: this is a schema change by the schema owner, not an edit of history."""
    return [
        "ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE audit_chain NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_immutable",
        f"""DO $$
        DECLARE
            r record;
            v_tenant uuid := NULL;
            v_seq bigint := 0;
            v_prev bytea;
            v_hash bytea;
        BEGIN
            FOR r IN SELECT * FROM public.audit_events ORDER BY tenant_id, created_at, id LOOP
                IF v_tenant IS DISTINCT FROM r.tenant_id THEN
                    IF v_tenant IS NOT NULL THEN
                        INSERT INTO public.audit_chain (tenant_id, last_seq, prev_hash, last_hash)
                        VALUES (v_tenant, v_seq, v_prev, v_hash);
                    END IF;
                    v_tenant := r.tenant_id;
                    v_seq := 0;
                    v_hash := {ZERO_HASH};
                END IF;
                v_seq := v_seq + 1;
                v_prev := v_hash;
                v_hash := sha256(v_prev || {_canonical_call('r', 'v_seq')});
                UPDATE public.audit_events e SET seq = v_seq, prev_hash = v_prev, hash = v_hash
                 WHERE e.tenant_id = r.tenant_id AND e.created_at = r.created_at AND e.id = r.id;
            END LOOP;
            IF v_tenant IS NOT NULL THEN
                INSERT INTO public.audit_chain (tenant_id, last_seq, prev_hash, last_hash)
                VALUES (v_tenant, v_seq, v_prev, v_hash);
            END IF;
        END $$""",
        "ALTER TABLE audit_events ENABLE TRIGGER audit_events_immutable",
        "ALTER TABLE audit_chain FORCE ROW LEVEL SECURITY",
        "ALTER TABLE audit_events FORCE ROW LEVEL SECURITY",
    ]


def _retention_sql(app: str) -> list[str]:
    fns = [
        (
            "drift_api.audit_retention_days(text, integer)",
            # The policy, in one place: the API shows it, the retention functions apply it.
            f"""CREATE FUNCTION drift_api.audit_retention_days(p_plan text, p_custom integer)
                RETURNS integer LANGUAGE sql IMMUTABLE {DEFINER} AS $$
                SELECT CASE p_plan
                    WHEN 'free' THEN 30
                    WHEN 'pro' THEN 365
                    WHEN 'team' THEN 730
                    WHEN 'enterprise' THEN greatest(coalesce(p_custom, 730), 365)
                    ELSE 3650  -- unknown plan: keep, never delete early
                END
            $$""",
        ),
        (
            "drift_api.audit_retention_purge(uuid, timestamptz, integer)",
            # Delete up to p_batch of one tenant's expired events, oldest first. Only a prefix
            # of the tenant's sequence is deleted (events before the first one that must stay),
            # so the kept events form an unbroken chain from the stored boundary.
            f"""CREATE FUNCTION drift_api.audit_retention_purge(
                    p_tenant uuid, p_now timestamptz, p_batch integer)
                RETURNS TABLE (deleted bigint, cutoff timestamptz, through_seq bigint)
                LANGUAGE plpgsql {DEFINER} AS $$
            #variable_conflict use_column
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                v_flag text := current_setting('drift.audit_retention', true);
                v_days integer;
                v_cut timestamptz;
                v_stop bigint;
                v_n bigint := 0;
                v_seq bigint;
                v_hash bytea;
            BEGIN
                IF p_batch IS NULL OR p_batch < 1 OR p_batch > 100000 THEN
                    RAISE EXCEPTION 'batch must be between 1 and 100000'
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                PERFORM set_config('app.tenant_id', p_tenant::text, true);
                SELECT drift_api.audit_retention_days(t.plan, t.audit_retention_days)
                  INTO v_days FROM public.tenants t;
                -- one purge per tenant at a time (several workers may run)
                IF v_days IS NULL OR NOT pg_try_advisory_xact_lock(
                        hashtext('drift.audit_retention'), hashtext(p_tenant::text)) THEN
                    PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                    RETURN;
                END IF;
                -- the caller's clock may lag the server's (tests), never lead it
                v_cut := least(p_now, now()) - make_interval(days => v_days);
                SELECT e.seq INTO v_stop FROM public.audit_events e
                 WHERE e.created_at >= v_cut ORDER BY e.seq LIMIT 1;
                PERFORM set_config('drift.audit_retention', 'on', true);
                WITH victims AS (
                    SELECT e.tenant_id, e.created_at, e.id FROM public.audit_events e
                     WHERE e.created_at < v_cut AND (v_stop IS NULL OR e.seq < v_stop)
                     ORDER BY e.seq LIMIT p_batch
                ), gone AS (
                    DELETE FROM public.audit_events e USING victims v
                     WHERE e.tenant_id = v.tenant_id AND e.created_at = v.created_at
                       AND e.id = v.id
                    RETURNING e.seq, e.hash
                )
                SELECT count(*), max(g.seq), (array_agg(g.hash ORDER BY g.seq DESC))[1]
                  INTO v_n, v_seq, v_hash FROM gone g;
                PERFORM set_config('drift.audit_retention', coalesce(v_flag, ''), true);
                IF v_n > 0 THEN
                    UPDATE public.audit_chain c
                       SET retained_seq = v_seq, retained_hash = v_hash, retained_at = now()
                     WHERE c.tenant_id = p_tenant AND c.retained_seq < v_seq;
                END IF;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                deleted := v_n;
                cutoff := v_cut;
                through_seq := v_seq;
                RETURN NEXT;
            END $$""",
        ),
        (
            "drift_api.audit_drop_expired_partitions(timestamptz)",
            # Drop monthly partitions whose every row is past every tenant's window. A
            # partition is dropped only if, for each tenant with rows in it, no event that
            # committed before the tenant's last event there lives anywhere else (so the kept
            # chain is still a suffix); the boundaries are stored with the drop. Returns, per dropped
            # partition, each tenant that had events in it and its new boundary.
            f"""CREATE FUNCTION drift_api.audit_drop_expired_partitions(p_now timestamptz)
                RETURNS TABLE (partition_name text, tenant_id uuid, through_seq bigint)
                LANGUAGE plpgsql {DEFINER} AS $$
            #variable_conflict use_column
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                v_lock text := current_setting('lock_timeout');
                v_now timestamptz := least(p_now, now());
                v_min timestamptz := NULL;
                v_cut timestamptz;
                v_tenants uuid[] := '{{}}';
                v_bounds jsonb;
                v_ok boolean;
                v_lower timestamptz;
                v_upper timestamptz;
                v_last record;
                t uuid;
                b jsonb;
                p record;
            BEGIN
                IF NOT pg_try_advisory_xact_lock(hashtext('drift.audit_retention'), 0) THEN
                    RETURN;
                END IF;
                FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                    PERFORM set_config('app.tenant_id', t::text, true);
                    v_cut := NULL;
                    SELECT v_now - make_interval(
                               days => drift_api.audit_retention_days(x.plan, x.audit_retention_days))
                      INTO v_cut FROM public.tenants x;
                    v_min := least(v_min, v_cut);
                    v_tenants := v_tenants || t;
                END LOOP;
                IF v_min IS NULL THEN
                    PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                    RETURN;
                END IF;
                FOR p IN
                    SELECT c.relname,
                           (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                         'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)')) AS b
                      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = 'public.audit_events'::regclass
                       AND c.relname ~ '^audit_events_[0-9]{{4}}_[0-9]{{2}}$'
                     ORDER BY c.relname
                LOOP
                    CONTINUE WHEN p.b IS NULL;
                    v_lower := p.b[1]::timestamptz;
                    v_upper := p.b[2]::timestamptz;
                    EXIT WHEN v_upper > v_min;
                    v_ok := true;
                    v_bounds := '[]'::jsonb;
                    FOREACH t IN ARRAY v_tenants LOOP
                        PERFORM set_config('app.tenant_id', t::text, true);
                        v_last := NULL;
                        EXECUTE format('SELECT seq, hash FROM public.%I ORDER BY seq DESC LIMIT 1',
                                       p.relname) INTO v_last;
                        CONTINUE WHEN v_last.seq IS NULL;
                        IF EXISTS (SELECT 1 FROM public.audit_events e
                                    WHERE e.seq < v_last.seq
                                      AND (e.created_at < v_lower OR e.created_at >= v_upper)) THEN
                            v_ok := false;
                            EXIT;
                        END IF;
                        v_bounds := v_bounds || jsonb_build_object(
                            't', t, 's', v_last.seq, 'h', encode(v_last.hash, 'hex'));
                    END LOOP;
                    CONTINUE WHEN NOT v_ok;
                    BEGIN
                        -- a long export holds the table: give up for today rather than queue
                        -- every insert behind this DROP
                        PERFORM set_config('lock_timeout', '5s', true);
                        EXECUTE format('DROP TABLE public.%I', p.relname);
                        PERFORM set_config('lock_timeout', v_lock, true);
                        FOR b IN SELECT * FROM jsonb_array_elements(v_bounds) LOOP
                            PERFORM set_config('app.tenant_id', b ->> 't', true);
                            UPDATE public.audit_chain c
                               SET retained_seq = (b ->> 's')::bigint,
                                   retained_hash = decode(b ->> 'h', 'hex'),
                                   retained_at = now()
                             WHERE c.tenant_id = (b ->> 't')::uuid
                               AND c.retained_seq < (b ->> 's')::bigint;
                            partition_name := p.relname::text;
                            tenant_id := (b ->> 't')::uuid;
                            through_seq := (b ->> 's')::bigint;
                            RETURN NEXT;
                        END LOOP;
                    EXCEPTION WHEN lock_not_available THEN
                        RAISE WARNING 'audit partition % not dropped: table busy', p.relname;
                    END;
                END LOOP;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            END $$""",
        ),
    ]
    fns += _stream_fns()
    out: list[str] = []
    for signature, body in fns:
        out.append(body)
        out.append(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")
        out.append(f"GRANT EXECUTE ON FUNCTION {signature} TO {app}")
    return out


def _stream_fns() -> list[tuple[str, str]]:
    return [
        (
            "drift_api.audit_stream_register(uuid, uuid[], integer)",
            # An API process streams these tenants for the next p_ttl seconds (renewed while
            # it does); the chain trigger NOTIFYs only for registered tenants.
            f"""CREATE FUNCTION drift_api.audit_stream_register(
                    p_listener uuid, p_tenants uuid[], p_ttl integer)
                RETURNS void LANGUAGE sql {DEFINER} AS $$
                INSERT INTO drift_private.audit_stream_listeners AS l
                       (tenant_id, listener_id, expires_at)
                SELECT t, p_listener, now() + make_interval(secs => least(greatest(p_ttl, 1), 600))
                  FROM unnest(p_tenants) AS t
                ON CONFLICT (tenant_id, listener_id)
                   DO UPDATE SET expires_at = EXCLUDED.expires_at;
                DELETE FROM drift_private.audit_stream_listeners
                 WHERE expires_at < now() - interval '1 hour';
            $$""",
        ),
        (
            "drift_api.audit_stream_unregister(uuid, uuid[])",
            f"""CREATE FUNCTION drift_api.audit_stream_unregister(p_listener uuid, p_tenants uuid[])
                RETURNS void LANGUAGE sql {DEFINER} AS $$
                DELETE FROM drift_private.audit_stream_listeners
                 WHERE listener_id = p_listener AND tenant_id = ANY (p_tenants);
            $$""",
        ),
        (
            "drift_api.audit_stream_barrier(uuid)",
            # Returns once every transaction that was writing the tenant's log when it was
            # called has ended. Called after registering: a writer that checked the registry
            # before the registration committed still holds the tenant's chain lock, so after
            # the barrier its event is either committed (and read by the subscriber's first
            # read) or was never there; every later writer sees the registration.
            f"""CREATE FUNCTION drift_api.audit_stream_barrier(p_tenant uuid)
                RETURNS void LANGUAGE plpgsql {DEFINER} AS $$
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
            BEGIN
                PERFORM set_config('app.tenant_id', p_tenant::text, true);
                PERFORM 1 FROM public.audit_chain c WHERE c.tenant_id = p_tenant FOR SHARE;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            END $$""",
        ),
    ]


def downgrade() -> None:
    for stmt in [
        "DROP FUNCTION IF EXISTS drift_api.audit_drop_expired_partitions(timestamptz)",
        "DROP FUNCTION IF EXISTS drift_api.audit_retention_purge(uuid, timestamptz, integer)",
        "DROP FUNCTION IF EXISTS drift_api.audit_retention_days(text, integer)",
        "DROP TRIGGER IF EXISTS audit_events_chain ON audit_events",
        "DROP FUNCTION IF EXISTS drift_private.audit_chain_step()",
        "DROP FUNCTION IF EXISTS drift_api.audit_stream_register(uuid, uuid[], integer)",
        "DROP FUNCTION IF EXISTS drift_api.audit_stream_unregister(uuid, uuid[])",
        "DROP FUNCTION IF EXISTS drift_api.audit_stream_barrier(uuid)",
        "DROP TABLE IF EXISTS drift_private.audit_stream_listeners",
        f"DROP FUNCTION IF EXISTS {CANONICAL_SIG}",
        "DROP INDEX IF EXISTS audit_events_seq",
        "DROP INDEX IF EXISTS audit_events_actor_seq",
        "DROP INDEX IF EXISTS audit_events_actor_email",
        "DROP INDEX IF EXISTS audit_events_action_seq",
        "DROP INDEX IF EXISTS audit_events_resource",
        "CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor_id, created_at)",
        "CREATE INDEX audit_events_action ON audit_events (tenant_id, action, created_at)",
        "ALTER TABLE audit_events DROP COLUMN seq, DROP COLUMN prev_hash, DROP COLUMN hash",
        "DROP TABLE IF EXISTS audit_chain",
    ]:
        op.execute(stmt)
