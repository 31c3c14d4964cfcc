"""Table metadata for SCIM (built by 0007_scim, 0012_scim_breaker, 0013_scim_attributes;
see app.core.models).

SCIM also adds to `users` (app.auth.models): external_id, scim_resource (the SCIM attributes
as sent), scim_deleted_at; and uses `teams` (scim_managed, external_id) and
`team_memberships` as Groups and their members."""

from sqlalchemy import Column, ForeignKeyConstraint, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, UUID

from app.core.models import (
    created_at,
    created_index,
    entity_table,
    flag,
    lower_key,
    secret_hash,
    tenant_fk,
    tenant_ref,
    tenant_table,
    timestamp,
    updated_at,
)

scim_tokens = entity_table(
    "scim_tokens",
    Column("name", Text, nullable=False),
    Column("prefix", Text, nullable=False),
    *secret_hash("scim_tokens", "token_hash"),
    Column("created_by", UUID),
    created_at(),
    timestamp("last_used_at"),
    timestamp("revoked_at"),
    tenant_fk(),
)
created_index(scim_tokens)

scim_group_mappings = tenant_table(
    "scim_group_mappings",
    Column("group_name", Text, nullable=False),
    lower_key("group_key", "group_name", primary_key=True),
    Column("role", Text, nullable=False),
    created_at(),
    tenant_fk(),
)


# the mass-deprovision breaker (docs/scim.md): a tenant's settings, when changed from the
# defaults, and every deprovision by a SCIM token (counted in the window; held ones wait)
scim_breaker_settings = tenant_table(
    "scim_breaker_settings",
    flag("enabled", default=True),
    Column("max_share", DOUBLE_PRECISION, nullable=False, server_default=text("0.3")),
    Column("window_seconds", Integer, nullable=False, server_default=text("600")),
    Column("min_changes", Integer, nullable=False, server_default=text("5")),
    updated_at(),
    Column("updated_by", UUID),
    tenant_fk(),
)

scim_deprovisions = entity_table(
    "scim_deprovisions",
    Column("token_id", UUID, nullable=False),
    Column("user_id", UUID, nullable=False),
    Column("op", Text, nullable=False),  # deactivate | delete
    Column("status", Text, nullable=False),  # applied | held | approved | rejected | ...
    Column("trip_id", UUID),
    created_at(),
    timestamp("resolved_at"),
    Column("resolved_by", UUID),
    tenant_fk(),
    tenant_ref(["token_id"], "scim_tokens"),
    tenant_ref(["user_id"], "users"),
)
Index("scim_deprovisions_window", scim_deprovisions.c.tenant_id, scim_deprovisions.c.token_id,
      scim_deprovisions.c.created_at)
Index("scim_deprovisions_held_user", scim_deprovisions.c.tenant_id,
      scim_deprovisions.c.user_id, unique=True, postgresql_where=text("status = 'held'"))
Index("scim_deprovisions_held", scim_deprovisions.c.tenant_id, scim_deprovisions.c.created_at,
      scim_deprovisions.c.id, postgresql_where=text("status = 'held'"))
# A tenant's own User attributes (urn:drift:params:scim:schemas:extension:custom:2.0:User)
# and the filter index of their values (the values live in users.scim_resource).
scim_custom_attributes = tenant_table(
    "scim_custom_attributes",
    Column("name", Text, nullable=False),
    lower_key("name_key", "name", primary_key=True),
    Column("type", Text, nullable=False),
    flag("required", default=False),
    flag("case_exact", default=False),
    Column("description", Text, nullable=False, server_default=text("''::text")),
    Column("position", Integer, nullable=False),
    created_at(),
    tenant_fk(),
)

scim_custom_values = tenant_table(
    "scim_custom_values",
    Column("user_id", UUID, primary_key=True),
    Column("name_key", Text, primary_key=True),
    Column("value_key", Text, nullable=False),
    tenant_fk(),
    tenant_ref(["user_id"], "users"),
    ForeignKeyConstraint(["tenant_id", "name_key"], ["scim_custom_attributes.tenant_id",
                                                     "scim_custom_attributes.name_key"],
                         ondelete="CASCADE"),
)
Index("scim_custom_values_lookup", scim_custom_values.c.tenant_id,
      scim_custom_values.c.name_key, scim_custom_values.c.value_key)
