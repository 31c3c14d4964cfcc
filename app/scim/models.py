"""Table metadata for SCIM (built by 0007_scim, 0012_scim_breaker, 0013_scim_attributes;
see app.core.models).

SCIM also adds to `users` (app.auth.models): external_id, scim_resource (the SCIM attributes
as sent), scim_deleted_at; and uses `teams` (scim_managed, external_id) and
`team_memberships` as Groups and their members."""

from sqlalchemy import Column, ForeignKeyConstraint, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, UUID

from app.core import models as m

scim_tokens = m.entity_table(
    "scim_tokens",
    *m.not_null(name=Text, prefix=Text),
    *m.secret_hash("scim_tokens", "token_hash"),
    Column("created_by", UUID),
    m.created_at(),
    m.timestamp("last_used_at"),
    m.timestamp("revoked_at"),
    m.tenant_fk(),
)
m.created_index(scim_tokens)

scim_group_mappings = m.tenant_table(
    "scim_group_mappings",
    *m.not_null(group_name=Text),
    m.lower_key("group_key", "group_name", primary_key=True),
    *m.not_null(role=Text),
    m.created_at(),
    m.tenant_fk(),
)


# the mass-deprovision breaker (docs/scim.md): a tenant's settings, when changed from the
# defaults, and every deprovision by a SCIM token (counted in the window; held ones wait)
scim_breaker_settings = m.tenant_table(
    "scim_breaker_settings",
    m.flag("enabled", default=True),
    Column("max_share", DOUBLE_PRECISION, nullable=False, server_default=text("0.3")),
    Column("window_seconds", Integer, nullable=False, server_default=text("600")),
    Column("min_changes", Integer, nullable=False, server_default=text("5")),
    m.updated_at(),
    Column("updated_by", UUID),
    m.tenant_fk(),
)

scim_deprovisions = m.entity_table(
    "scim_deprovisions",
    *m.not_null(token_id=UUID, user_id=UUID),
    *m.not_null(op=Text),  # deactivate | delete
    *m.not_null(status=Text),  # applied | held | approved | rejected | ...
    Column("trip_id", UUID),
    m.created_at(),
    m.timestamp("resolved_at"),
    Column("resolved_by", UUID),
    m.tenant_fk(),
    m.tenant_ref(["token_id"], "scim_tokens"),
    m.tenant_ref(["user_id"], "users"),
)
Index("scim_deprovisions_window", scim_deprovisions.c.tenant_id, scim_deprovisions.c.token_id,
      scim_deprovisions.c.created_at)
Index("scim_deprovisions_held_user", scim_deprovisions.c.tenant_id,
      scim_deprovisions.c.user_id, unique=True, postgresql_where=text("status = 'held'"))
Index("scim_deprovisions_held", scim_deprovisions.c.tenant_id, scim_deprovisions.c.created_at,
      scim_deprovisions.c.id, postgresql_where=text("status = 'held'"))
# A tenant's own User attributes (urn:drift:params:scim:schemas:extension:custom:2.0:User)
# and the filter index of their values (the values live in users.scim_resource).
scim_custom_attributes = m.tenant_table(
    "scim_custom_attributes",
    *m.not_null(name=Text),
    m.lower_key("name_key", "name", primary_key=True),
    *m.not_null(type=Text),
    m.flag("required", default=False),
    m.flag("case_exact", default=False),
    Column("description", Text, nullable=False, server_default=text("''::text")),
    *m.not_null(position=Integer),
    m.created_at(),
    m.tenant_fk(),
)

scim_custom_values = m.tenant_table(
    "scim_custom_values",
    *m.primary_key(user_id=UUID, name_key=Text),
    *m.not_null(value_key=Text),
    m.tenant_fk(),
    m.tenant_ref(["user_id"], "users"),
    ForeignKeyConstraint(["tenant_id", "name_key"], ["scim_custom_attributes.tenant_id",
                                                     "scim_custom_attributes.name_key"],
                         ondelete="CASCADE"),
)
Index("scim_custom_values_lookup", scim_custom_values.c.tenant_id,
      scim_custom_values.c.name_key, scim_custom_values.c.value_key)
