"""Table metadata for single sign-on (built by 0009_sso_domains; see app.core.models).

SSO also adds `sessions.sso_connection_id` (declared in app.auth.models)."""

from sqlalchemy import Boolean, Column, Index, Table, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import BYTEA, JSONB, UUID

from app.core.models import (
    created_at,
    id_key,
    metadata,
    tenant_fk,
    tenant_key,
    tenant_ref,
    timestamp,
    updated_at,
)

sso_connections = Table(
    "sso_connections", metadata,
    tenant_key(),
    id_key(),
    Column("protocol", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("config", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("secret_enc", BYTEA),
    Column("jit_provisioning", Boolean, nullable=False, server_default=text("false")),
    Column("default_role", Text, nullable=False, server_default=text("'member'::text")),
    created_at(),
    updated_at(),
    tenant_fk(),
)
Index("sso_connections_created", sso_connections.c.tenant_id, sso_connections.c.created_at,
      sso_connections.c.id)

sso_login_states = Table(
    "sso_login_states", metadata,
    tenant_key(),
    id_key(),
    Column("state_hash", BYTEA, nullable=False),
    Column("connection_id", UUID, nullable=False),
    Column("browser_hash", BYTEA, nullable=False),
    Column("nonce", Text, nullable=False),
    Column("code_verifier", Text, nullable=False),
    Column("return_to", Text, nullable=False),
    created_at(),
    timestamp("expires_at", nullable=False),
    timestamp("used_at"),
    UniqueConstraint("tenant_id", "state_hash", name="sso_login_states_tenant_id_state_hash_key"),
    tenant_fk(),
    tenant_ref(["connection_id"], "sso_connections"),
)
Index("sso_login_states_expires", sso_login_states.c.tenant_id, sso_login_states.c.expires_at)

sso_login_codes = Table(
    "sso_login_codes", metadata,
    tenant_key(),
    id_key(),
    Column("code_hash", BYTEA, nullable=False),
    Column("session_id", UUID, nullable=False),
    created_at(),
    timestamp("expires_at", nullable=False),
    timestamp("used_at"),
    UniqueConstraint("tenant_id", "code_hash", name="sso_login_codes_tenant_id_code_hash_key"),
    tenant_fk(),
    tenant_ref(["session_id"], "sessions"),
)

sso_settings = Table(
    "sso_settings", metadata,
    tenant_key(),
    Column("enforced", Boolean, nullable=False, server_default=text("false")),
    Column("owner_break_glass", Boolean, nullable=False, server_default=text("true")),
    updated_at(),
    tenant_fk(),
)

__all__ = ["sso_connections", "sso_login_codes", "sso_login_states",
           "sso_settings"]
