"""Table metadata for domain events and webhooks (built by 0005_outboxes_webhooks;
see app.core.models)."""

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, JSONB, UUID

from app.core.models import (
    choice,
    counter,
    created_at,
    created_index,
    entity_table,
    flag,
    id_key,
    tenant_fk,
    tenant_ref,
    tenant_table,
    tenant_unique,
    timestamp,
    timestamps,
)

# Domain events, written by webhooks.outbox.emit() in the caller's transaction.
outbox_events = tenant_table(
    "outbox_events",
    Column("id", UUID, primary_key=True),
    Column("type", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("data", JSONB, nullable=False),
    # W3C traceparent of the emitting request (NULL when tracing is off)
    Column("traceparent", Text),
    tenant_fk(),
)
Index("outbox_events_created", outbox_events.c.tenant_id, outbox_events.c.created_at)

webhook_endpoints = entity_table(
    "webhook_endpoints",
    Column("url", Text, nullable=False),
    Column("description", Text),
    Column("events", ARRAY(Text), nullable=False),
    flag("active", default=True),
    counter("consecutive_failures"),
    Column("disabled_reason", Text),
    timestamp("disabled_at"),
    *timestamps(),
    # fast or extended retries; when the tenant was told it is failing
    choice("retry_policy", default="extended"),
    timestamp("failing_since"),
    # fan-out filters (NULL: none)
    Column("project_ids", ARRAY(UUID)),
    Column("min_severity", Text),
    # custom request headers (names in clear, pairs encrypted)
    Column("header_names", ARRAY(Text)),
    Column("headers_encrypted", BYTEA),
    # deliveries per second (NULL: no limit); when the next may start
    Column("rate_limit", Integer),
    timestamp("next_send_at"),
    tenant_fk(),
)
created_index(webhook_endpoints)

webhook_secrets = tenant_table(
    "webhook_secrets",
    Column("endpoint_id", UUID, primary_key=True),
    id_key(),
    Column("secret_encrypted", BYTEA, nullable=False),
    created_at(),
    timestamp("expires_at"),
    tenant_ref(["endpoint_id"], "webhook_endpoints"),
)

# each endpoint's last delivery sequence number (webhook-sequence), moved on by the fan-out
# in the emitting transaction (app.core.outbox; 0014_webhook_sequence)
webhook_endpoint_sequences = tenant_table(
    "webhook_endpoint_sequences",
    Column("endpoint_id", UUID, primary_key=True),
    counter("last_seq", BigInteger),
    tenant_fk(),
    tenant_ref(["endpoint_id"], "webhook_endpoints"),
)

webhook_deliveries = entity_table(
    "webhook_deliveries",
    Column("endpoint_id", UUID, nullable=False),
    Column("event_id", UUID, nullable=False),
    Column("event_type", Text, nullable=False),
    choice("status", default="pending"),
    counter("attempt"),
    counter("retry_base"),
    timestamp("next_attempt_at"),
    timestamp("locked_until"),
    Column("status_code", Integer),
    Column("response_body", Text),
    Column("latency_ms", Integer),
    Column("error", Text),
    timestamp("last_attempt_at"),
    timestamp("delivered_at"),
    *timestamps(),
    # the endpoint's sequence number (NULL: a test ping; 0014_webhook_sequence)
    Column("seq", BigInteger),
    tenant_unique("webhook_deliveries", "endpoint_id", "event_id"),
    tenant_ref(["endpoint_id"], "webhook_endpoints"),
    tenant_ref(["event_id"], "outbox_events"),
)
Index("webhook_deliveries_due", webhook_deliveries.c.tenant_id,
      webhook_deliveries.c.endpoint_id, webhook_deliveries.c.next_attempt_at,
      postgresql_where=text("status = 'pending'::text"))
Index("webhook_deliveries_log", webhook_deliveries.c.tenant_id,
      webhook_deliveries.c.endpoint_id, webhook_deliveries.c.created_at,
      webhook_deliveries.c.id)
Index("webhook_deliveries_seq", webhook_deliveries.c.tenant_id,
      webhook_deliveries.c.endpoint_id, webhook_deliveries.c.seq, unique=True)

webhook_delivery_attempts = tenant_table(
    "webhook_delivery_attempts",
    Column("delivery_id", UUID, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    timestamp("attempted_at", nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Integer),
    Column("error", Text),
    Column("response_body", Text),
    tenant_ref(["delivery_id"], "webhook_deliveries"),
)
