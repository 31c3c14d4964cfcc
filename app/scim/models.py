"""Table metadata for SCIM (built by 0100_scim_tokens, 0101_scim_resources,
0102_scim_group_mappings, 0830_i18_scim_attributes; see app.core.models).

SCIM also adds to `users` (app.auth.models): external_id, scim_resource (the SCIM attributes
as sent), scim_deleted_at; and uses `teams` (scim_managed, external_id) and
`team_memberships` as Groups and their members."""

from sqlalchemy import (
    Boolean,
    Column,
    Computed,
    ForeignKeyConstraint,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    text,
)
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

# A tenant's own User attributes (urn:drift:params:scim:schemas:extension:custom:2.0:User)
# and the filter index of their values (the values live in users.scim_resource).
scim_custom_attributes = Table(
    "scim_custom_attributes", metadata,
    tenant_key(),
    Column("name", Text, nullable=False),
    Column("name_key", Text, Computed("lower(name)", persisted=True), primary_key=True),
    Column("type", Text, nullable=False),
    Column("required", Boolean, nullable=False, server_default=text("false")),
    Column("case_exact", Boolean, nullable=False, server_default=text("false")),
    Column("description", Text, nullable=False, server_default=text("''::text")),
    Column("position", Integer, nullable=False),
    created_at(),
    tenant_fk(),
)

scim_custom_values = Table(
    "scim_custom_values", metadata,
    tenant_key(),
    Column("user_id", UUID, primary_key=True),
    Column("name_key", Text, primary_key=True),
    Column("value_key", Text, nullable=False),
    tenant_fk(),
    ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"],
                         ondelete="CASCADE"),
    ForeignKeyConstraint(["tenant_id", "name_key"], ["scim_custom_attributes.tenant_id",
                                                     "scim_custom_attributes.name_key"],
                         ondelete="CASCADE"),
)
Index("scim_custom_values_lookup", scim_custom_values.c.tenant_id,
      scim_custom_values.c.name_key, scim_custom_values.c.value_key)
