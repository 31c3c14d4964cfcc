"""Table metadata for single sign-on (built by 0009_sso_domains; see app.core.models).

SSO also adds `sessions.sso_connection_id` (declared in app.auth.models)."""

from sqlalchemy import Boolean, Column, Index, Text, text
from sqlalchemy.dialects.postgresql import BYTEA, JSONB, UUID

from app.core.models import (
    created_at,
    created_index,
    entity_table,
    tenant_fk,
    tenant_ref,
    tenant_table,
    tenant_unique,
    timestamp,
    timestamps,
    updated_at,
)

sso_connections = entity_table(
    "sso_connections",
    Column("protocol", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("config", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("secret_enc", BYTEA),
    Column("jit_provisioning", Boolean, nullable=False, server_default=text("false")),
    Column("default_role", Text, nullable=False, server_default=text("'member'::text")),
    *timestamps(),
    tenant_fk(),
)
created_index(sso_connections)

sso_login_states = entity_table(
    "sso_login_states",
    Column("state_hash", BYTEA, nullable=False),
    Column("connection_id", UUID, nullable=False),
    Column("browser_hash", BYTEA, nullable=False),
    Column("nonce", Text, nullable=False),
    Column("code_verifier", Text, nullable=False),
    Column("return_to", Text, nullable=False),
    created_at(),
    timestamp("expires_at", nullable=False),
    timestamp("used_at"),
    tenant_unique("sso_login_states", "state_hash"),
    tenant_fk(),
    tenant_ref(["connection_id"], "sso_connections"),
)
Index("sso_login_states_expires", sso_login_states.c.tenant_id, sso_login_states.c.expires_at)

sso_login_codes = entity_table(
    "sso_login_codes",
    Column("code_hash", BYTEA, nullable=False),
    Column("session_id", UUID, nullable=False),
    created_at(),
    timestamp("expires_at", nullable=False),
    timestamp("used_at"),
    tenant_unique("sso_login_codes", "code_hash"),
    tenant_fk(),
    tenant_ref(["session_id"], "sessions"),
)

sso_settings = tenant_table(
    "sso_settings",
    Column("enforced", Boolean, nullable=False, server_default=text("false")),
    Column("owner_break_glass", Boolean, nullable=False, server_default=text("true")),
    updated_at(),
    tenant_fk(),
)

__all__ = ["sso_connections", "sso_login_codes", "sso_login_states",
           "sso_settings"]
