"""Table metadata for the audit log (schema lives in Alembic; this mirrors it)."""

from sqlalchemy import Column, DateTime, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID

metadata = MetaData()

audit_events = Table(
    "audit_events", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("created_at", DateTime(timezone=True), primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("actor_type", Text, nullable=False),
    Column("actor_id", UUID),
    Column("actor_email", Text),
    Column("action", Text, nullable=False),
    Column("resource_type", Text, nullable=False),
    Column("resource_id", Text),
    Column("outcome", Text, nullable=False),
    Column("ip", INET),
    Column("user_agent", Text),
    Column("request_id", Text),
    Column("metadata", JSONB, nullable=False),
)
