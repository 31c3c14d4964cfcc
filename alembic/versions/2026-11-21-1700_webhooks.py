"""webhooks: endpoints, signing secrets, deliveries and their attempts; api key expiry notices

Revision ID: 0200_webhooks
Revises: 0102_scim_group_mappings
Create Date: 2026-11-21 17:00

- webhook_endpoints: where a tenant wants events (url, subscribed types, active flag and the
  circuit-breaker count of consecutive failed deliveries).
- webhook_secrets: signing secrets (encrypted at rest); more than one is valid during a
  rotation's grace period (expires_at).
- webhook_deliveries: one row per (endpoint, event), written in the transaction that emitted
  the event. The worker claims due rows (status 'pending', next_attempt_at <= now, lease
  `locked_until` free) with FOR UPDATE SKIP LOCKED; `attempt` counts attempts and fences a
  result against a newer claim of the same row.
- webhook_delivery_attempts: the log of every attempt.
- api_keys.expiry_notified_at: `apikey.expiring` is emitted once per key.

Cross-tenant work goes through two definer functions that reveal tenant ids only.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0200_webhooks"
down_revision: str | Sequence[str] | None = "0102_scim_group_mappings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"

TABLES = ("webhook_endpoints", "webhook_secrets", "webhook_deliveries",
          "webhook_delivery_attempts")


def upgrade() -> None:
    app = app_role()
    sql = [
        """CREATE TABLE webhook_endpoints (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
            description text CHECK (description IS NULL OR length(description) <= 500),
            events text[] NOT NULL CHECK (cardinality(events) >= 1),
            active boolean NOT NULL DEFAULT true,
            consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
            disabled_reason text,
            disabled_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id)
        )""",
        "CREATE INDEX webhook_endpoints_created ON webhook_endpoints (tenant_id, created_at, id)",
        """CREATE TABLE webhook_secrets (
            tenant_id uuid NOT NULL,
            endpoint_id uuid NOT NULL,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            secret_encrypted bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz,
            PRIMARY KEY (tenant_id, endpoint_id, id),
            FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
                ON DELETE CASCADE
        )""",
        """CREATE TABLE webhook_deliveries (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            endpoint_id uuid NOT NULL,
            event_id uuid NOT NULL,
            event_type text NOT NULL,
            status text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'delivered', 'failed')),
            attempt integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
            retry_base integer NOT NULL DEFAULT 0 CHECK (retry_base >= 0),
            next_attempt_at timestamptz,
            locked_until timestamptz,
            status_code integer,
            response_body text,
            latency_ms integer,
            error text,
            last_attempt_at timestamptz,
            delivered_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            UNIQUE (tenant_id, endpoint_id, event_id),
            CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
            FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
                ON DELETE CASCADE,
            FOREIGN KEY (tenant_id, event_id) REFERENCES outbox_events (tenant_id, id)
                ON DELETE CASCADE
        )""",
        # due work per endpoint (the claim and the worker's "which tenants" probe)
        "CREATE INDEX webhook_deliveries_due ON webhook_deliveries"
        " (tenant_id, endpoint_id, next_attempt_at) WHERE status = 'pending'",
        # the deliveries log of one endpoint, newest first
        "CREATE INDEX webhook_deliveries_log ON webhook_deliveries"
        " (tenant_id, endpoint_id, created_at, id)",
        """CREATE TABLE webhook_delivery_attempts (
            tenant_id uuid NOT NULL,
            delivery_id uuid NOT NULL,
            attempt integer NOT NULL,
            attempted_at timestamptz NOT NULL,
            status_code integer,
            latency_ms integer,
            error text,
            response_body text,
            PRIMARY KEY (tenant_id, delivery_id, attempt),
            FOREIGN KEY (tenant_id, delivery_id) REFERENCES webhook_deliveries (tenant_id, id)
                ON DELETE CASCADE
        )""",
        "ALTER TABLE api_keys ADD COLUMN expiry_notified_at timestamptz",
        "CREATE INDEX api_keys_expiring ON api_keys (tenant_id, expires_at)"
        " WHERE expires_at IS NOT NULL AND revoked_at IS NULL AND expiry_notified_at IS NULL",
    ]
    for table in TABLES:
        sql += tenant_rls(table)
    sql += [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_secrets TO {app}",
        f"GRANT SELECT, INSERT, UPDATE ON webhook_deliveries TO {app}",
        f"GRANT SELECT, INSERT ON webhook_delivery_attempts TO {app}",
        # wake the worker (payload: the tenant id) when a delivery becomes due work
        """CREATE FUNCTION drift_private.notify_webhooks() RETURNS trigger
            LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            PERFORM pg_notify('drift_webhooks', NEW.tenant_id::text);
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON webhook_deliveries
            FOR EACH ROW WHEN (NEW.status = 'pending')
            EXECUTE FUNCTION drift_private.notify_webhooks()""",
        """CREATE TRIGGER webhook_deliveries_requeue_notify AFTER UPDATE OF status
            ON webhook_deliveries
            FOR EACH ROW WHEN (NEW.status = 'pending' AND OLD.status <> 'pending')
            EXECUTE FUNCTION drift_private.notify_webhooks()""",
    ]
    fns = [
        (
            "drift_api.tenants_with_due_webhooks(timestamptz)",
            # For the worker: which tenants have deliveries due now. Reveals ids only.
            f"""CREATE FUNCTION drift_api.tenants_with_due_webhooks(p_now timestamptz)
                RETURNS SETOF uuid LANGUAGE plpgsql {DEFINER} AS $$
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                t uuid;
            BEGIN
                FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                    PERFORM set_config('app.tenant_id', t::text, true);
                    IF EXISTS (SELECT 1 FROM public.webhook_endpoints e
                               WHERE e.active AND EXISTS (
                                   SELECT 1 FROM public.webhook_deliveries d
                                   WHERE d.endpoint_id = e.id AND d.status = 'pending'
                                     AND d.next_attempt_at <= p_now
                                     AND (d.locked_until IS NULL OR d.locked_until <= p_now)))
                    THEN
                        RETURN NEXT t;
                    END IF;
                END LOOP;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            END $$""",
        ),
        (
            "drift_api.tenants_with_expiring_api_keys(timestamptz, timestamptz)",
            # For the apikey.expiring job: tenants with a live key expiring in (now, until]
            # that has not been announced yet. Reveals ids only.
            f"""CREATE FUNCTION drift_api.tenants_with_expiring_api_keys(
                    p_now timestamptz, p_until timestamptz)
                RETURNS SETOF uuid LANGUAGE plpgsql {DEFINER} AS $$
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                t uuid;
            BEGIN
                FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                    PERFORM set_config('app.tenant_id', t::text, true);
                    IF EXISTS (SELECT 1 FROM public.api_keys k
                               WHERE k.expires_at IS NOT NULL AND k.revoked_at IS NULL
                                 AND k.expiry_notified_at IS NULL
                                 AND k.expires_at > p_now AND k.expires_at <= p_until) THEN
                        RETURN NEXT t;
                    END IF;
                END LOOP;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            END $$""",
        ),
    ]
    for signature, body in fns:
        sql += [body, f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC",
                f"GRANT EXECUTE ON FUNCTION {signature} TO {app}"]
    for stmt in sql:
        op.execute(stmt)


def downgrade() -> None:
    for stmt in [
        "DROP FUNCTION IF EXISTS drift_api.tenants_with_expiring_api_keys(timestamptz, timestamptz)",
        "DROP FUNCTION IF EXISTS drift_api.tenants_with_due_webhooks(timestamptz)",
        "DROP TABLE IF EXISTS webhook_delivery_attempts, webhook_deliveries, webhook_secrets,"
        " webhook_endpoints CASCADE",
        "DROP FUNCTION IF EXISTS drift_private.notify_webhooks()",
        "DROP INDEX IF EXISTS api_keys_expiring",
        "ALTER TABLE api_keys DROP COLUMN IF EXISTS expiry_notified_at",
    ]:
        op.execute(stmt)
