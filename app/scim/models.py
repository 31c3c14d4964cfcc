"""Table metadata for SCIM (built by 0007_scim; see app.core.models).

SCIM also adds to `users` (app.auth.models): external_id, scim_resource (the SCIM attributes
as sent), scim_deleted_at; and uses `teams` (scim_managed, external_id) and
`team_memberships` as Groups and their members."""

from sqlalchemy import Column, Computed, Text
from sqlalchemy.dialects.postgresql import BYTEA, UUID

from app.core.models import (
    created_at,
    created_index,
    entity_table,
    tenant_fk,
    tenant_table,
    tenant_unique,
    timestamp,
)

scim_tokens = entity_table(
    "scim_tokens",
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("token_hash", BYTEA, nullable=False),
    Column("created_by", UUID),
    created_at(),
    timestamp("last_used_at"),
    timestamp("revoked_at"),
    tenant_unique("scim_tokens", "token_hash"),
    tenant_fk(),
)
created_index(scim_tokens)

scim_group_mappings = tenant_table(
    "scim_group_mappings",
    Column("group_name", Text, nullable=False),
    Column("group_key", Text, Computed("lower(group_name)", persisted=True), primary_key=True),
    Column("role", Text, nullable=False),
    created_at(),
    tenant_fk(),
)
