"""foundation: tenants, users, credentials, projects, audit log, outboxes, RLS

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-21 09:00

Schemas:
  public         tenant tables, every one with RLS ENABLE + FORCE and the one tenant policy
  drift_private  internal indexes that map a token or slug to its tenant; the runtime role
                 has no privilege on this schema at all
  drift_api      SECURITY DEFINER functions (search_path pinned, EXECUTE revoked from PUBLIC,
                 granted to the runtime role only) for the few lookups that happen before the
                 tenant is known and for work that spans tenants

The owner role is bound by FORCE RLS like everyone else; definer functions that must reach a
tenant's rows set app.tenant_id themselves and restore the caller's value before returning.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0001_foundation"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
# Functions that visit a tenant save the caller's app.tenant_id and put it back on every exit
# (a `SET app.tenant_id` function clause would do this, but PostgreSQL 15+ lets only a superuser
# attach a placeholder parameter to a function). On error the caller's transaction aborts.
DEFINER_TENANT = DEFINER


def upgrade() -> None:
    app = app_role()
    sql: list[str] = []
    sql += [
        "CREATE SCHEMA drift_private",
        "CREATE SCHEMA drift_api",
        "REVOKE ALL ON SCHEMA drift_private FROM PUBLIC",
        "REVOKE ALL ON SCHEMA drift_api FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA drift_api TO {app}",
        f"GRANT USAGE ON SCHEMA public TO {app}",
        "ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC",
        f"GRANT SELECT ON alembic_version TO {app}",
        # ---- private indexes (no RLS, unreachable for the runtime role) ----
        """CREATE TABLE drift_private.tenant_index (
            tenant_id uuid PRIMARY KEY,
            slug text NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now()
        )""",
        """CREATE TABLE drift_private.token_index (
            token_hash bytea PRIMARY KEY,
            tenant_id uuid NOT NULL,
            kind text NOT NULL,
            ref_id uuid NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )""",
        "CREATE INDEX token_index_tenant ON drift_private.token_index (tenant_id, kind)",
        # ---- tenants ----
        """CREATE TABLE tenants (
            tenant_id uuid PRIMARY KEY,
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
            plan text NOT NULL DEFAULT 'free'
                CHECK (plan IN ('free', 'pro', 'team', 'enterprise')),
            seat_limit integer CHECK (seat_limit IS NULL OR seat_limit >= 1),
            owner_id uuid,
            audit_retention_days integer
                CHECK (audit_retention_days IS NULL OR audit_retention_days >= 1),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )""",
        # ---- users ----
        """CREATE TABLE users (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            email text CHECK (email IS NULL OR length(email) <= 320),
            user_name text NOT NULL CHECK (length(user_name) BETWEEN 1 AND 320),
            display_name text,
            role text NOT NULL DEFAULT 'member'
                CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
            active boolean NOT NULL DEFAULT true,
            deprovisioned_at timestamptz,
            password_hash text,
            last_active_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id)
        )""",
        "CREATE UNIQUE INDEX users_user_name_uq ON users (tenant_id, lower(user_name))",
        "CREATE UNIQUE INDEX users_email_uq ON users (tenant_id, lower(email))"
        " WHERE email IS NOT NULL",
        # at most one owner per tenant; transfer demotes before it promotes
        "CREATE UNIQUE INDEX users_one_owner ON users (tenant_id) WHERE role = 'owner'",
        """ALTER TABLE tenants ADD CONSTRAINT tenants_owner_fk FOREIGN KEY (tenant_id, owner_id)
            REFERENCES users (tenant_id, id) DEFERRABLE INITIALLY DEFERRED""",
        # ---- api keys ----
        """CREATE TABLE api_keys (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            user_id uuid NOT NULL,
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
            prefix text NOT NULL,
            sha256 bytea NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz,
            last_used_at timestamptz,
            revoked_at timestamptz,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
        )""",
        "CREATE INDEX api_keys_user ON api_keys (tenant_id, user_id)",
        # ---- sessions ----
        """CREATE TABLE sessions (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            user_id uuid NOT NULL,
            refresh_hash bytea NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            refreshed_at timestamptz,
            revoked_at timestamptz,
            ip inet,
            user_agent text,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
        )""",
        "CREATE INDEX sessions_user ON sessions (tenant_id, user_id)",
        # ---- projects ----
        """CREATE TABLE projects (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            slug text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
            description text CHECK (description IS NULL OR length(description) <= 2000),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            UNIQUE (tenant_id, slug)
        )""",
        "CREATE INDEX projects_created ON projects (tenant_id, created_at, id)",
        # ---- domain events outbox (webhooks fan out from here) ----
        """CREATE TABLE outbox_events (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL,
            type text NOT NULL,
            created_at timestamptz NOT NULL,
            data jsonb NOT NULL,
            PRIMARY KEY (tenant_id, id)
        )""",
        "CREATE INDEX outbox_events_created ON outbox_events (tenant_id, created_at)",
        # ---- email outbox ----
        """CREATE TABLE email_outbox (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            kind text NOT NULL,
            to_address text NOT NULL,
            subject text NOT NULL,
            body_encrypted bytea NOT NULL,
            status text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'failed', 'logged')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            locked_until timestamptz,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            sent_at timestamptz,
            PRIMARY KEY (tenant_id, id)
        )""",
        "CREATE INDEX email_outbox_due ON email_outbox (tenant_id, next_attempt_at)"
        " WHERE status = 'pending'",
    ]
    for table in ("tenants", "users", "api_keys", "sessions", "projects", "outbox_events",
                  "email_outbox"):
        sql += tenant_rls(table)
    sql += [
        f"GRANT SELECT, INSERT, UPDATE ON tenants TO {app}",
        f"GRANT SELECT, INSERT, UPDATE ON users TO {app}",
        f"GRANT SELECT, INSERT, UPDATE ON api_keys TO {app}",
        f"GRANT SELECT, INSERT, UPDATE ON sessions TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO {app}",
        f"GRANT SELECT, INSERT ON outbox_events TO {app}",
        f"GRANT SELECT, INSERT, UPDATE ON email_outbox TO {app}",
    ]
    sql += _audit_sql(app)
    sql += _index_triggers_sql()
    sql += _definer_functions_sql(app)
    sql += _notify_sql()
    for stmt in sql:
        op.execute(stmt)
    op.execute("SELECT drift_api.ensure_audit_partitions(current_date - 31, 14)")


def _audit_sql(app: str) -> list[str]:
    return [
        """CREATE TABLE audit_events (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            created_at timestamptz NOT NULL DEFAULT now(),
            actor_type text NOT NULL CHECK (actor_type IN ('user', 'api_key', 'scim', 'system')),
            actor_id uuid,
            actor_email text,
            action text NOT NULL CHECK (action ~ '^[a-z_]+\\.[a-z_]+$'),
            resource_type text NOT NULL,
            resource_id text,
            outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
            ip inet,
            user_agent text,
            request_id text,
            metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
            PRIMARY KEY (tenant_id, created_at, id)
        ) PARTITION BY RANGE (created_at)""",
        # (tenant_id, created_at) is served by the primary key's leading columns.
        "CREATE INDEX audit_events_actor ON audit_events (tenant_id, actor_id, created_at)",
        "CREATE INDEX audit_events_action ON audit_events (tenant_id, action, created_at)",
        *tenant_rls("audit_events"),
        f"GRANT SELECT, INSERT ON audit_events TO {app}",
        # Immutable: UPDATE/DELETE refused for everyone (owner included) unless the retention
        # function, which runs with drift.audit_retention = 'on', is the one deleting.
        """CREATE FUNCTION drift_private.audit_events_immutable() RETURNS trigger
            LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND current_setting('drift.audit_retention', true) = 'on' THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'audit events are immutable: % is not allowed', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$""",
        """CREATE TRIGGER audit_events_immutable BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION drift_private.audit_events_immutable()""",
        """CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
            FOR EACH STATEMENT EXECUTE FUNCTION drift_private.audit_events_immutable()""",
        # Monthly partitions, created ahead by migrations and by the worker's daily job.
        f"""CREATE FUNCTION drift_api.ensure_audit_partitions(p_from date, p_months integer)
            RETURNS integer LANGUAGE plpgsql {DEFINER} AS $$
        DECLARE
            m date := date_trunc('month', p_from)::date;
            created integer := 0;
            part text;
        BEGIN
            IF to_regclass('public.audit_events_default') IS NULL THEN
                EXECUTE 'CREATE TABLE public.audit_events_default PARTITION OF public.audit_events DEFAULT';
                PERFORM drift_private.secure_audit_partition('audit_events_default');
            END IF;
            FOR i IN 0 .. greatest(p_months, 0) LOOP
                part := format('audit_events_%s', to_char(m, 'YYYY_MM'));
                IF to_regclass('public.' || part) IS NULL THEN
                    BEGIN
                        EXECUTE format(
                            'CREATE TABLE public.%I PARTITION OF public.audit_events FOR VALUES FROM (%L) TO (%L)',
                            part, m, (m + interval '1 month')::date);
                        PERFORM drift_private.secure_audit_partition(part);
                        created := created + 1;
                    EXCEPTION WHEN check_violation THEN
                        -- rows for this month already sit in the default partition
                        RAISE WARNING 'audit partition % not created: default partition has rows', part;
                    END;
                END IF;
                m := (m + interval '1 month')::date;
            END LOOP;
            RETURN created;
        END $$""",
        f"""CREATE FUNCTION drift_private.secure_audit_partition(p_part text)
            RETURNS void LANGUAGE plpgsql {DEFINER} AS $$
        BEGIN
            EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', p_part);
            EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', p_part);
            EXECUTE format('CREATE POLICY tenant_isolation ON public.%I USING ({{_PRED}}) WITH CHECK ({{_PRED}})', p_part);
            EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON public.%I FOR EACH STATEMENT EXECUTE FUNCTION drift_private.audit_events_immutable()', p_part);
        END $$""".replace("{_PRED}", _PRED_ESCAPED),
        "REVOKE EXECUTE ON FUNCTION drift_private.secure_audit_partition(text) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION drift_api.ensure_audit_partitions(date, integer) TO {app}",
    ]


# The tenant predicate with its quotes doubled, for use inside format('...').
_PRED_ESCAPED = (
    "tenant_id = (SELECT NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)"
)


def _index_triggers_sql() -> list[str]:
    return [
        # tenants -> slug index (login by slug happens before the tenant is known)
        f"""CREATE FUNCTION drift_private.index_tenant() RETURNS trigger
            LANGUAGE plpgsql {DEFINER} AS $$
        BEGIN
            INSERT INTO drift_private.tenant_index (tenant_id, slug)
            VALUES (NEW.tenant_id, NEW.slug)
            ON CONFLICT (tenant_id) DO UPDATE SET slug = EXCLUDED.slug;
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER tenants_index AFTER INSERT OR UPDATE OF slug ON tenants
            FOR EACH ROW EXECUTE FUNCTION drift_private.index_tenant()""",
        # bearer secrets -> tenant. TG_ARGV: kind, hash column, id column.
        f"""CREATE FUNCTION drift_private.index_token() RETURNS trigger
            LANGUAGE plpgsql {DEFINER} AS $$
        DECLARE
            row jsonb := to_jsonb(NEW);
            h text := row ->> TG_ARGV[1];
        BEGIN
            IF h IS NOT NULL THEN
                INSERT INTO drift_private.token_index (token_hash, tenant_id, kind, ref_id)
                VALUES (decode(substr(h, 3), 'hex'), NEW.tenant_id, TG_ARGV[0],
                        (row ->> TG_ARGV[2])::uuid)
                ON CONFLICT (token_hash) DO NOTHING;
            END IF;
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER api_keys_index AFTER INSERT ON api_keys
            FOR EACH ROW EXECUTE FUNCTION drift_private.index_token('api_key', 'sha256', 'id')""",
        """CREATE TRIGGER sessions_index AFTER INSERT OR UPDATE OF refresh_hash ON sessions
            FOR EACH ROW EXECUTE FUNCTION drift_private.index_token('refresh', 'refresh_hash', 'id')""",
    ]


def _definer_functions_sql(app: str) -> list[str]:
    fns = [
        (
            "drift_api.tenant_id_for_slug(text)",
            f"""CREATE FUNCTION drift_api.tenant_id_for_slug(p_slug text) RETURNS uuid
                LANGUAGE sql STABLE {DEFINER} AS $$
                SELECT tenant_id FROM drift_private.tenant_index WHERE slug = lower(p_slug)
            $$""",
        ),
        (
            "drift_api.token_tenant(bytea, text)",
            # Which tenant (and row) a bearer secret belongs to; nothing else.
            f"""CREATE FUNCTION drift_api.token_tenant(p_hash bytea, p_kind text)
                RETURNS TABLE (tenant_id uuid, ref_id uuid)
                LANGUAGE sql STABLE {DEFINER} AS $$
                SELECT t.tenant_id, t.ref_id FROM drift_private.token_index t
                WHERE t.token_hash = p_hash AND t.kind = p_kind
            $$""",
        ),
        (
            "drift_api.authenticate_api_key(bytea, timestamptz)",
            f"""CREATE FUNCTION drift_api.authenticate_api_key(p_hash bytea, p_now timestamptz)
                RETURNS TABLE (status text, tenant_id uuid, key_id uuid, user_id uuid,
                               email text, role text)
                LANGUAGE plpgsql {DEFINER_TENANT} AS $$
            #variable_conflict use_column
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                v_tenant uuid;
                r record;
            BEGIN
                SELECT t.tenant_id INTO v_tenant FROM drift_private.token_index t
                WHERE t.token_hash = p_hash AND t.kind = 'api_key';
                IF NOT FOUND THEN RETURN; END IF;
                PERFORM set_config('app.tenant_id', v_tenant::text, true);
                SELECT k.id AS kid, k.revoked_at, k.expires_at, k.last_used_at,
                       u.id AS uid, u.email AS uemail, u.role AS urole, u.active,
                       u.last_active_at
                  INTO r
                  FROM public.api_keys k
                  JOIN public.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
                 WHERE k.sha256 = p_hash;
                IF NOT FOUND THEN
                    PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                    RETURN;
                END IF;
                IF r.revoked_at IS NOT NULL THEN status := 'revoked';
                ELSIF r.expires_at IS NOT NULL AND r.expires_at <= p_now THEN status := 'expired';
                ELSIF NOT r.active THEN status := 'inactive';
                ELSE
                    status := 'ok';
                    IF r.last_used_at IS NULL OR r.last_used_at < p_now - interval '60 seconds' THEN
                        UPDATE public.api_keys SET last_used_at = p_now
                         WHERE api_keys.tenant_id = v_tenant AND api_keys.id = r.kid;
                    END IF;
                    IF r.last_active_at IS NULL OR r.last_active_at < p_now - interval '60 seconds' THEN
                        UPDATE public.users SET last_active_at = p_now
                         WHERE users.tenant_id = v_tenant AND users.id = r.uid;
                    END IF;
                END IF;
                tenant_id := v_tenant; key_id := r.kid; user_id := r.uid;
                email := r.uemail; role := r.urole;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                RETURN NEXT;
            END $$""",
        ),
        (
            "drift_api.authenticate_session(uuid, uuid, uuid, timestamptz)",
            # The JWT (signature already verified) names tenant, session and user; the session
            # row decides whether it still counts.
            f"""CREATE FUNCTION drift_api.authenticate_session(
                    p_tenant uuid, p_session uuid, p_user uuid, p_now timestamptz)
                RETURNS TABLE (status text, email text, role text)
                LANGUAGE plpgsql {DEFINER_TENANT} AS $$
            #variable_conflict use_column
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                r record;
            BEGIN
                PERFORM set_config('app.tenant_id', p_tenant::text, true);
                SELECT s.revoked_at, s.expires_at, u.email AS uemail, u.role AS urole, u.active,
                       u.last_active_at
                  INTO r
                  FROM public.sessions s
                  JOIN public.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
                 WHERE s.id = p_session AND s.user_id = p_user;
                IF NOT FOUND THEN
                    PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                    RETURN;
                END IF;
                IF r.revoked_at IS NOT NULL THEN status := 'revoked';
                ELSIF r.expires_at <= p_now THEN status := 'expired';
                ELSIF NOT r.active THEN status := 'inactive';
                ELSE
                    status := 'ok';
                    IF r.last_active_at IS NULL OR r.last_active_at < p_now - interval '60 seconds' THEN
                        UPDATE public.users SET last_active_at = p_now
                         WHERE users.tenant_id = p_tenant AND users.id = p_user;
                    END IF;
                END IF;
                email := r.uemail; role := r.urole;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                RETURN NEXT;
            END $$""",
        ),
        (
            "drift_api.list_tenants()",
            # For the operator CLI: one row per tenant, read tenant by tenant under RLS.
            f"""CREATE FUNCTION drift_api.list_tenants()
                RETURNS TABLE (tenant_id uuid, slug text, name text, plan text,
                               seat_limit integer, created_at timestamptz)
                LANGUAGE plpgsql {DEFINER_TENANT} AS $$
            #variable_conflict use_column
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                t record;
            BEGIN
                FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti
                         ORDER BY ti.created_at, ti.tenant_id LOOP
                    PERFORM set_config('app.tenant_id', t.tenant_id::text, true);
                    RETURN QUERY SELECT x.tenant_id, x.slug, x.name, x.plan, x.seat_limit,
                                        x.created_at
                                   FROM public.tenants x;
                END LOOP;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            END $$""",
        ),
        (
            "drift_api.tenants_with_due_email(timestamptz)",
            # For the worker: which tenants have email to send now. Reveals ids only.
            f"""CREATE FUNCTION drift_api.tenants_with_due_email(p_now timestamptz)
                RETURNS SETOF uuid LANGUAGE plpgsql {DEFINER_TENANT} AS $$
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                t uuid;
            BEGIN
                FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                    PERFORM set_config('app.tenant_id', t::text, true);
                    IF EXISTS (SELECT 1 FROM public.email_outbox e
                               WHERE e.status = 'pending' AND e.next_attempt_at <= p_now
                                 AND (e.locked_until IS NULL OR e.locked_until <= p_now)) THEN
                        RETURN NEXT t;
                    END IF;
                END LOOP;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            END $$""",
        ),
        (
            "drift_api.all_tenant_ids()",
            f"""CREATE FUNCTION drift_api.all_tenant_ids() RETURNS SETOF uuid
                LANGUAGE sql STABLE {DEFINER} AS $$
                SELECT tenant_id FROM drift_private.tenant_index ORDER BY created_at, tenant_id
            $$""",
        ),
    ]
    out: list[str] = []
    for signature, body in fns:
        out.append(body)
        out.append(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")
        out.append(f"GRANT EXECUTE ON FUNCTION {signature} TO {app}")
    return out


def _notify_sql() -> list[str]:
    # Wake the worker when there is mail to send (payload: the tenant id).
    return [
        """CREATE FUNCTION drift_private.notify_email() RETURNS trigger
            LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            PERFORM pg_notify('drift_email', NEW.tenant_id::text);
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER email_outbox_notify AFTER INSERT ON email_outbox
            FOR EACH ROW EXECUTE FUNCTION drift_private.notify_email()""",
    ]


def downgrade() -> None:
    for stmt in [
        "DROP TABLE IF EXISTS audit_events CASCADE",
        "DROP TABLE IF EXISTS email_outbox, outbox_events, projects, sessions, api_keys CASCADE",
        "ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_owner_fk",
        "DROP TABLE IF EXISTS users, tenants CASCADE",
        "DROP SCHEMA IF EXISTS drift_api CASCADE",
        "DROP SCHEMA IF EXISTS drift_private CASCADE",
    ]:
        op.execute(stmt)
