"""Table metadata for domain events and webhooks (built by 0005_outboxes_webhooks;
see app.core.models)."""

from sqlalchemy import BigInteger, Column, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, JSONB, UUID

from app.core import models as m

# Domain events, written by webhooks.outbox.emit() in the caller's transaction.
outbox_events = m.tenant_table(
    "outbox_events",
    *m.primary_key(id=UUID),
    *m.not_null(type=Text),
    m.timestamp("created_at", nullable=False),
    *m.not_null(data=JSONB),
    # W3C traceparent of the emitting request (NULL when tracing is off)
    Column("traceparent", Text),
    m.tenant_fk(),
)
Index("outbox_events_created", outbox_events.c.tenant_id, outbox_events.c.created_at)

webhook_endpoints = m.entity_table(
    "webhook_endpoints",
    *m.not_null(url=Text),
    Column("description", Text),
    *m.not_null(events=ARRAY(Text)),
    m.flag("active", default=True),
    m.counter("consecutive_failures"),
    Column("disabled_reason", Text),
    m.timestamp("disabled_at"),
    *m.timestamps(),
    # fast or extended retries; when the tenant was told it is failing
    m.choice("retry_policy", default="extended"),
    m.timestamp("failing_since"),
    # fan-out filters (NULL: none)
    Column("project_ids", ARRAY(UUID)),
    Column("min_severity", Text),
    # custom request headers (names in clear, pairs encrypted)
    Column("header_names", ARRAY(Text)),
    Column("headers_encrypted", BYTEA),
    # deliveries per second (NULL: no limit); when the next may start
    Column("rate_limit", Integer),
    m.timestamp("next_send_at"),
    m.tenant_fk(),
)
m.created_index(webhook_endpoints)

webhook_secrets = m.tenant_table(
    "webhook_secrets",
    *m.primary_key(endpoint_id=UUID),
    m.id_key(),
    *m.not_null(secret_encrypted=BYTEA),
    m.created_at(),
    m.timestamp("expires_at"),
    m.tenant_ref(["endpoint_id"], "webhook_endpoints"),
)

# each endpoint's last delivery sequence number (webhook-sequence), moved on by the fan-out
# in the emitting transaction (app.core.outbox; 0014_webhook_sequence)
webhook_endpoint_sequences = m.tenant_table(
    "webhook_endpoint_sequences",
    *m.primary_key(endpoint_id=UUID),
    m.counter("last_seq", BigInteger),
    m.tenant_fk(),
    m.tenant_ref(["endpoint_id"], "webhook_endpoints"),
)

webhook_deliveries = m.entity_table(
    "webhook_deliveries",
    *m.not_null(endpoint_id=UUID, event_id=UUID, event_type=Text),
    m.choice("status", default="pending"),
    m.counter("attempt"),
    m.counter("retry_base"),
    m.timestamp("next_attempt_at"),
    m.timestamp("locked_until"),
    Column("status_code", Integer),
    Column("response_body", Text),
    Column("latency_ms", Integer),
    Column("error", Text),
    m.timestamp("last_attempt_at"),
    m.timestamp("delivered_at"),
    *m.timestamps(),
    # the endpoint's sequence number (NULL: a test ping; 0014_webhook_sequence)
    Column("seq", BigInteger),
    m.tenant_unique("webhook_deliveries", "endpoint_id", "event_id"),
    m.tenant_ref(["endpoint_id"], "webhook_endpoints"),
    m.tenant_ref(["event_id"], "outbox_events"),
)
Index("webhook_deliveries_due", webhook_deliveries.c.tenant_id,
      webhook_deliveries.c.endpoint_id, webhook_deliveries.c.next_attempt_at,
      postgresql_where=text("status = 'pending'::text"))
Index("webhook_deliveries_log", webhook_deliveries.c.tenant_id,
      webhook_deliveries.c.endpoint_id, webhook_deliveries.c.created_at,
      webhook_deliveries.c.id)
Index("webhook_deliveries_seq", webhook_deliveries.c.tenant_id,
      webhook_deliveries.c.endpoint_id, webhook_deliveries.c.seq, unique=True)

webhook_delivery_attempts = m.tenant_table(
    "webhook_delivery_attempts",
    *m.primary_key(delivery_id=UUID, attempt=Integer),
    m.timestamp("attempted_at", nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Integer),
    Column("error", Text),
    Column("response_body", Text),
    m.tenant_ref(["delivery_id"], "webhook_deliveries"),
)
