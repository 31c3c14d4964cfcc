"""Table metadata for single sign-on (built by 0009_sso_domains; see app.core.models).

SSO also adds `sessions.sso_connection_id` (declared in app.auth.models)."""

from sqlalchemy import Column, Text
from sqlalchemy.dialects.postgresql import BYTEA, UUID

from app.core import models as m

sso_connections = m.entity_table(
    "sso_connections",
    *m.not_null(protocol=Text, name=Text),
    m.flag("enabled", default=True),
    m.json_object("config"),
    Column("secret_enc", BYTEA),
    m.flag("jit_provisioning", default=False),
    m.choice("default_role", default="member"),
    *m.timestamps(),
    m.tenant_fk(),
)
m.created_index(sso_connections)

sso_login_states = m.entity_table(
    "sso_login_states",
    *m.secret_hash("sso_login_states", "state_hash"),
    *m.not_null(connection_id=UUID, browser_hash=BYTEA, nonce=Text, code_verifier=Text,
                return_to=Text),
    m.created_at(),
    *m.single_use(),
    m.tenant_fk(),
    m.tenant_ref(["connection_id"], "sso_connections"),
)
m.expires_index(sso_login_states)

sso_login_codes = m.entity_table(
    "sso_login_codes",
    *m.secret_hash("sso_login_codes", "code_hash"),
    *m.not_null(session_id=UUID),
    m.created_at(),
    *m.single_use(),
    m.tenant_fk(),
    m.tenant_ref(["session_id"], "sessions"),
)

sso_settings = m.tenant_table(
    "sso_settings",
    m.flag("enforced", default=False),
    m.flag("owner_break_glass", default=True),
    m.updated_at(),
    m.tenant_fk(),
)

__all__ = ["sso_connections", "sso_login_codes", "sso_login_states",
           "sso_settings"]
