"""Table metadata for the audit log (schema lives in Alembic; this mirrors it)."""

from sqlalchemy import BigInteger, Column, Computed, DateTime, LargeBinary, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID

metadata = MetaData()

# Partitioned by month on created_at. seq/prev_hash/hash are assigned by the BEFORE INSERT
# trigger (drift_private.audit_chain_step) under the tenant's chain-head lock.
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
    Column("seq", BigInteger, nullable=False),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    # the action's last dot-separated segment, for `action=<verb>` (migration 0700_i23_audit_verb)
    Column("action_verb", Text(collation="C"), Computed("split_part(action, '.', -1)")),
)

# One row per tenant: the head of its hash chain and the retention boundary.
audit_chain = Table(
    "audit_chain", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("last_hash", LargeBinary, nullable=False),
    Column("retained_seq", BigInteger, nullable=False),
    Column("retained_hash", LargeBinary, nullable=False),
    Column("retained_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
