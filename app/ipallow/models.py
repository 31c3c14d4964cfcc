"""Table metadata for the IP allowlist (the schema itself lives in Alembic)."""

from sqlalchemy import Column, DateTime, LargeBinary, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import CIDR, INET, UUID

metadata = MetaData()

ip_allowlist = Table(
    "ip_allowlist", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("cidr", CIDR, nullable=False),
    Column("description", Text),
    Column("expires_at", DateTime(timezone=True)),
    Column("created_by", UUID),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

ip_allowlist_resets = Table(
    "ip_allowlist_resets", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("token_hash", LargeBinary, nullable=False, unique=True),
    Column("requested_by", UUID, nullable=False),
    Column("email", Text, nullable=False),
    Column("requested_ip", INET),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("used_ip", INET),
    Column("superseded_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
