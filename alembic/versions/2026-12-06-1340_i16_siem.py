"""i16-siem: audit log streams to SIEMs (Splunk HEC, Datadog logs, signed NDJSON)

Revision ID: 0800_i16_siem
Revises: 0790_i18_idp
Create Date: 2026-12-08 10:00

One row per destination. The worker pushes the tenant's audit events in `seq` order and
advances `delivered_through_seq` only after a 2xx, so a destination that is down loses
nothing (docs/audit.md, "Streams to SIEMs"). `lease_id`/`locked_until` make one worker at a
time own a stream: claims take rows with FOR UPDATE SKIP LOCKED, and a cursor update counts
only for the lease that read the batch.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0800_i16_siem"
down_revision: str | Sequence[str] | None = "0790_i18_idp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
FN = "drift_api.tenants_with_audit_streams(timestamptz)"


def upgrade() -> None:
    app = app_role()
    sql = [
        """CREATE TABLE audit_streams (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
            type text NOT NULL CHECK (type IN ('splunk_hec', 'datadog', 'https_ndjson')),
            url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
            token_encrypted bytea NOT NULL,
            filters jsonb NOT NULL DEFAULT '{}'::jsonb,
            options jsonb NOT NULL DEFAULT '{}'::jsonb,
            status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
            delivered_through_seq bigint NOT NULL DEFAULT 0,
            delivered_events bigint NOT NULL DEFAULT 0,
            consecutive_failures integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            locked_until timestamptz,
            lease_id uuid,
            last_success_at timestamptz,
            last_error text,
            last_error_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id)
        )""",
        "CREATE INDEX audit_streams_created ON audit_streams (tenant_id, created_at, id)",
        *tenant_rls("audit_streams"),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON audit_streams TO {app}",
        # For the worker: tenants with an active stream, and whether one of them is due now
        # (events past its cursor, not leased, not backing off). Reveals ids only.
        f"""CREATE FUNCTION {FN.replace('(timestamptz)', '(p_now timestamptz)')}
            RETURNS TABLE (tenant_id uuid, due boolean) LANGUAGE plpgsql {DEFINER} AS $$
        DECLARE
            v_prev text := current_setting('app.tenant_id', true);
            t uuid;
            v_due boolean;
        BEGIN
            FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                PERFORM set_config('app.tenant_id', t::text, true);
                SELECT bool_or(s.next_attempt_at <= p_now
                               AND (s.locked_until IS NULL OR s.locked_until <= p_now)
                               AND s.delivered_through_seq < coalesce(
                                   (SELECT c.last_seq FROM public.audit_chain c
                                     WHERE c.tenant_id = t), 0))
                  INTO v_due
                  FROM public.audit_streams s
                 WHERE s.tenant_id = t AND s.status = 'active';
                IF v_due IS NOT NULL THEN
                    tenant_id := t;
                    due := v_due;
                    RETURN NEXT;
                END IF;
            END LOOP;
            PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
        END $$""",
        f"REVOKE EXECUTE ON FUNCTION {FN} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {FN} TO {app}",
    ]
    for statement in sql:
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {FN}")
    op.execute("DROP TABLE IF EXISTS audit_streams")
