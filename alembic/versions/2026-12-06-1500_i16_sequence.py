"""i16 webhooks: a per-endpoint sequence number on every delivery

Revision ID: 0820_i16_sequence
Revises: 0810_i16_webhooks
Create Date: 2026-12-06 15:00

- webhook_endpoint_sequences (tenant_id, endpoint_id, last_seq): the counter. One row per
  endpoint, made with the endpoint. The fan-out statement (app.core.outbox) moves it on by the
  number of deliveries it queues for the endpoint, in the emitting transaction, so numbers are
  gap-free per endpoint and follow commit order (the row lock is held until COMMIT). It is a
  table of its own rather than a column of webhook_endpoints: the worker locks endpoint rows
  (rate-limit reservations, the circuit breaker) in transactions that also emit alerts, and
  a counter on those rows would let the two wait for each other.
- webhook_deliveries.seq: the number, sent as `webhook-sequence`; NULL for test pings (sent
  to one endpoint outside the stream). Unique per endpoint; also the key of
  GET /api/v1/webhooks/{id}/events?after_seq=.
- Existing deliveries are numbered by (created_at, id) per endpoint and the counters start
  after them.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0820_i16_sequence"
down_revision: str | Sequence[str] | None = "0810_i16_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    app = app_role()
    for stmt in [
        """CREATE TABLE webhook_endpoint_sequences (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            endpoint_id uuid NOT NULL,
            last_seq bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (tenant_id, endpoint_id),
            FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id)
                ON DELETE CASCADE
        )""",
        *tenant_rls("webhook_endpoint_sequences"),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoint_sequences TO {app}",
        "ALTER TABLE webhook_deliveries ADD COLUMN seq bigint",
        "CREATE UNIQUE INDEX webhook_deliveries_seq ON webhook_deliveries"
        " (tenant_id, endpoint_id, seq)",
        # Number what exists, tenant by tenant (the owner is bound by FORCE RLS too).
        """DO $$
        DECLARE
            t uuid;
        BEGIN
            FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                PERFORM set_config('app.tenant_id', t::text, true);
                UPDATE webhook_deliveries d SET seq = n.seq
                  FROM (SELECT id, row_number() OVER (PARTITION BY endpoint_id
                                                      ORDER BY created_at, id) AS seq
                          FROM webhook_deliveries WHERE event_type <> 'ping') n
                 WHERE d.tenant_id = t AND d.id = n.id;
                INSERT INTO webhook_endpoint_sequences (tenant_id, endpoint_id, last_seq)
                SELECT e.tenant_id, e.id,
                       coalesce((SELECT max(d.seq) FROM webhook_deliveries d
                                  WHERE d.tenant_id = e.tenant_id AND d.endpoint_id = e.id), 0)
                  FROM webhook_endpoints e;
            END LOOP;
            PERFORM set_config('app.tenant_id', '', true);
        END $$""",
    ]:
        op.execute(stmt)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS webhook_deliveries_seq")
    op.execute("ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS seq")
    op.execute("DROP TABLE IF EXISTS webhook_endpoint_sequences")
