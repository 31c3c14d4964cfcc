"""Table metadata for SCIM (the schema itself lives in Alembic: 0100_scim_tokens,
0101_scim_resources, 0102_scim_group_mappings).

SCIM also adds to `users` (app.auth.models): external_id text, scim_resource jsonb (the SCIM
attributes as sent), scim_deleted_at timestamptz; and uses `teams` (scim_managed, external_id)
and `team_memberships` as Groups and their members."""

from sqlalchemy import Column, Computed, DateTime, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import BYTEA, UUID

metadata = MetaData()

scim_tokens = Table(
    "scim_tokens", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("id", UUID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("token_hash", BYTEA, nullable=False, unique=True),
    Column("created_by", UUID),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

scim_group_mappings = Table(
    "scim_group_mappings", metadata,
    Column("tenant_id", UUID, primary_key=True),
    Column("group_name", Text, nullable=False),
    Column("group_key", Text, Computed("lower(group_name)"), primary_key=True),
    Column("role", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
