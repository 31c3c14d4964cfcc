"""Table metadata for SCIM (built by 0007_scim; see app.core.models).

SCIM also adds to `users` (app.auth.models): external_id, scim_resource (the SCIM attributes
as sent), scim_deleted_at; and uses `teams` (scim_managed, external_id) and
`team_memberships` as Groups and their members."""

from sqlalchemy import Column, Computed, Index, Table, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import BYTEA, UUID

from app.core.models import created_at, id_key, metadata, tenant_fk, tenant_key, timestamp

scim_tokens = Table(
    "scim_tokens", metadata,
    tenant_key(),
    id_key(),
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("token_hash", BYTEA, nullable=False),
    Column("created_by", UUID),
    created_at(),
    timestamp("last_used_at"),
    timestamp("revoked_at"),
    UniqueConstraint("tenant_id", "token_hash", name="scim_tokens_tenant_id_token_hash_key"),
    tenant_fk(),
)
Index("scim_tokens_created", scim_tokens.c.tenant_id, scim_tokens.c.created_at,
      scim_tokens.c.id)

scim_group_mappings = Table(
    "scim_group_mappings", metadata,
    tenant_key(),
    Column("group_name", Text, nullable=False),
    Column("group_key", Text, Computed("lower(group_name)", persisted=True), primary_key=True),
    Column("role", Text, nullable=False),
    created_at(),
    tenant_fk(),
)
