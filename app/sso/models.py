"""Table metadata for single sign-on (built by 0009_sso_domains; see app.core.models).

SSO also adds `sessions.sso_connection_id` (declared in app.auth.models)."""

from sqlalchemy import Column, Index, Text
from sqlalchemy.dialects.postgresql import BYTEA, UUID

from app.core.models import (
    choice,
    created_at,
    created_index,
    entity_table,
    flag,
    json_object,
    secret_hash,
    single_use,
    tenant_fk,
    tenant_ref,
    tenant_table,
    timestamps,
    updated_at,
)

sso_connections = entity_table(
    "sso_connections",
    Column("protocol", Text, nullable=False),
    Column("name", Text, nullable=False),
    flag("enabled", default=True),
    json_object("config"),
    Column("secret_enc", BYTEA),
    flag("jit_provisioning", default=False),
    choice("default_role", default="member"),
    *timestamps(),
    tenant_fk(),
)
created_index(sso_connections)

sso_login_states = entity_table(
    "sso_login_states",
    *secret_hash("sso_login_states", "state_hash"),
    Column("connection_id", UUID, nullable=False),
    Column("browser_hash", BYTEA, nullable=False),
    Column("nonce", Text, nullable=False),
    Column("code_verifier", Text, nullable=False),
    Column("return_to", Text, nullable=False),
    created_at(),
    *single_use(),
    tenant_fk(),
    tenant_ref(["connection_id"], "sso_connections"),
)
Index("sso_login_states_expires", sso_login_states.c.tenant_id, sso_login_states.c.expires_at)

sso_login_codes = entity_table(
    "sso_login_codes",
    *secret_hash("sso_login_codes", "code_hash"),
    Column("session_id", UUID, nullable=False),
    created_at(),
    *single_use(),
    tenant_fk(),
    tenant_ref(["session_id"], "sessions"),
)

sso_settings = tenant_table(
    "sso_settings",
    flag("enforced", default=False),
    flag("owner_break_glass", default=True),
    updated_at(),
    tenant_fk(),
)

__all__ = ["sso_connections", "sso_login_codes", "sso_login_states",
           "sso_settings"]
