"""Table metadata for webhooks (the schema itself lives in Alembic, 0200_webhooks)."""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

metadata = MetaData()

webhook_endpoints = Table(
    "webhook_endpoints", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("url", Text, nullable=False),
    Column("description", Text),
    Column("events", ARRAY(Text), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("disabled_reason", Text),
    Column("disabled_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

webhook_secrets = Table(
    "webhook_secrets", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("endpoint_id", UUID, primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("secret_encrypted", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    ForeignKeyConstraint(["tenant_id", "endpoint_id"],
                         ["webhook_endpoints.tenant_id", "webhook_endpoints.id"],
                         ondelete="CASCADE"),
)

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("endpoint_id", UUID, nullable=False),
    Column("event_id", UUID, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("retry_base", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("locked_until", DateTime(timezone=True)),
    Column("status_code", Integer),
    Column("response_body", Text),
    Column("latency_ms", Integer),
    Column("error", Text),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["tenant_id", "endpoint_id"],
                         ["webhook_endpoints.tenant_id", "webhook_endpoints.id"],
                         ondelete="CASCADE"),
)

webhook_delivery_attempts = Table(
    "webhook_delivery_attempts", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("delivery_id", UUID, primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Integer),
    Column("error", Text),
    Column("response_body", Text),
    ForeignKeyConstraint(["tenant_id", "delivery_id"],
                         ["webhook_deliveries.tenant_id", "webhook_deliveries.id"],
                         ondelete="CASCADE"),
)
