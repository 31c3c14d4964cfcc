"""i14 observe: trace context on domain events; queue statistics for /metrics

Revision ID: 0740_i14_observe
Revises: 0730_i15_stream_tickets
Create Date: 2026-12-10 10:00

- outbox_events.traceparent: the W3C trace context of the request that emitted the event
  (NULL when tracing is off), so the webhook delivery's span can link to that request.
- drift_api.queue_stats(now): the webhook and email queues' depth and oldest due time, summed
  over every tenant. Read by GET /metrics at scrape time; like the worker's other
  cross-tenant functions it visits each tenant under RLS and reveals aggregates only (no
  tenant ids, no rows).
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role

revision: str = "0740_i14_observe"
down_revision: str | Sequence[str] | None = "0730_i15_stream_tickets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
SIGNATURE = "drift_api.queue_stats(timestamptz)"


def upgrade() -> None:
    app = app_role()
    for stmt in [
        "ALTER TABLE outbox_events ADD COLUMN traceparent text",
        f"""CREATE FUNCTION drift_api.queue_stats(p_now timestamptz)
            RETURNS TABLE (queue text, depth bigint, due bigint, oldest_due timestamptz)
            LANGUAGE plpgsql {DEFINER} AS $$
        DECLARE
            v_prev text := current_setting('app.tenant_id', true);
            t uuid;
            w_depth bigint := 0; w_due bigint := 0; w_oldest timestamptz;
            e_depth bigint := 0; e_due bigint := 0; e_oldest timestamptz;
            n bigint; d bigint; o timestamptz;
        BEGIN
            FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                PERFORM set_config('app.tenant_id', t::text, true);
                SELECT count(*), count(*) FILTER (WHERE w.next_attempt_at <= p_now),
                       min(w.next_attempt_at) FILTER (WHERE w.next_attempt_at <= p_now)
                  INTO n, d, o
                  FROM public.webhook_deliveries w WHERE w.status = 'pending';
                w_depth := w_depth + n; w_due := w_due + d;
                w_oldest := least(w_oldest, o);
                SELECT count(*), count(*) FILTER (WHERE m.next_attempt_at <= p_now),
                       min(m.next_attempt_at) FILTER (WHERE m.next_attempt_at <= p_now)
                  INTO n, d, o
                  FROM public.email_outbox m WHERE m.status = 'pending';
                e_depth := e_depth + n; e_due := e_due + d;
                e_oldest := least(e_oldest, o);
            END LOOP;
            PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            RETURN QUERY VALUES ('webhooks'::text, w_depth, w_due, w_oldest),
                                ('email'::text, e_depth, e_due, e_oldest);
        END $$""",
        f"REVOKE EXECUTE ON FUNCTION {SIGNATURE} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {app}",
    ]:
        op.execute(stmt)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {SIGNATURE}")
    op.execute("ALTER TABLE outbox_events DROP COLUMN IF EXISTS traceparent")
