"""Table metadata for users and credentials (built by the migrations; see app.core.models).

SCIM adds external_id, scim_resource and scim_deleted_at to users (0002_tenants_identity); the
*_key columns are generated lower() copies for case-insensitive lookups under RLS
(docs/ARCHITECTURE.md, "Case-insensitive lookups under RLS")."""

from sqlalchemy import Column, Index, Text, func, text
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID

from app.core import models as m

users = m.entity_table(
    "users",
    Column("email", Text),
    *m.not_null(user_name=Text),
    Column("display_name", Text),
    m.choice("role", default="member"),
    m.flag("active", default=True),
    m.timestamp("deprovisioned_at"),
    Column("password_hash", Text),
    m.timestamp("last_active_at"),
    *m.timestamps(),
    Column("external_id", Text),
    Column("scim_resource", JSONB),
    m.timestamp("scim_deleted_at"),
    m.lower_key("user_name_key", "user_name"),
    m.lower_key("email_key", "email"),
    m.tenant_fk(),
)
m.created_index(users)
Index("users_email_uq", users.c.tenant_id, users.c.email_key, unique=True,
      postgresql_where=text("email_key IS NOT NULL"))
Index("users_one_owner", users.c.tenant_id, unique=True,
      postgresql_where=text("role = 'owner'::text"))
Index("users_scim_external_id", users.c.tenant_id, users.c.external_id,
      postgresql_where=text("external_id IS NOT NULL"))
Index("users_scim_user_name_key", users.c.tenant_id, users.c.user_name_key)
# Uniqueness is an expression index, not a unique index on user_name_key: a plain unique
# index makes user_name_key a key column, and then any UPDATE of users (a SCIM role mapping)
# takes PostgreSQL's key lock, which waits on the FOR KEY SHARE that membership inserts hold,
# and concurrent group changes deadlock (tests/scim/test_group_mappings.py)
Index("users_user_name_uq", users.c.tenant_id, func.lower(users.c.user_name), unique=True)

api_keys = m.entity_table(
    "api_keys",
    *m.not_null(user_id=UUID, name=Text, prefix=Text),
    *m.secret_hash("api_keys", "sha256"),
    m.created_at(),
    m.timestamp("expires_at"),
    m.timestamp("last_used_at"),
    m.timestamp("revoked_at"),
    m.timestamp("expiry_notified_at"),
    m.tenant_ref(["user_id"], "users"),
)
Index("api_keys_user", api_keys.c.tenant_id, api_keys.c.user_id)
Index("api_keys_expiring", api_keys.c.tenant_id, api_keys.c.expires_at,
      postgresql_where=text("expires_at IS NOT NULL AND revoked_at IS NULL"
                            " AND expiry_notified_at IS NULL"))

sessions = m.entity_table(
    "sessions",
    *m.not_null(user_id=UUID),
    *m.secret_hash("sessions", "refresh_hash"),
    m.created_at(),
    m.timestamp("expires_at", nullable=False),
    m.timestamp("refreshed_at"),
    m.timestamp("revoked_at"),
    Column("ip", INET),
    Column("user_agent", Text),
    Column("sso_connection_id", UUID),  # 0002_tenants_identity: NULL for a password session
    m.tenant_ref(["user_id"], "users"),
)
Index("sessions_user", sessions.c.tenant_id, sessions.c.user_id)
