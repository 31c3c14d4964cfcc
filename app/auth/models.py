"""Table metadata for users and credentials (the schema itself lives in Alembic)."""

from sqlalchemy import Boolean, Column, DateTime, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import BYTEA, INET, UUID

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("email", Text),
    Column("user_name", Text, nullable=False),
    Column("display_name", Text),
    Column("role", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("deprovisioned_at", DateTime(timezone=True)),
    Column("password_hash", Text),
    Column("last_active_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("user_id", UUID, nullable=False),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("sha256", BYTEA, nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

sessions = Table(
    "sessions", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("user_id", UUID, nullable=False),
    Column("refresh_hash", BYTEA, nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("refreshed_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("ip", INET),
    Column("user_agent", Text),
)
