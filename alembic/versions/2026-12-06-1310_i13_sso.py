"""i13 single sign-on: connections, login states, one-time codes, enforcement settings

Revision ID: 0770_i13_sso
Revises: 0760_i15_idempotency
Create Date: 2026-12-06 13:00

- sso_connections: a tenant's identity providers (OIDC or SAML 2.0). `config` holds the
  protocol's non-secret settings; `secret_enc` the OIDC client secret, Fernet-encrypted with a
  key derived from DRIFT_SECRET_KEY (never returned by the API).
- sso_login_states: one row per started login (state, nonce, PKCE verifier, return path),
  bound to the browser by a cookie hash, single use, short-lived.
- sso_login_codes: the one-time code the browser app exchanges for its tokens.
- sso_settings: per tenant, whether SSO is enforced and whether the owner may still sign in
  with a password (break-glass).
- sessions.sso_connection_id: the connection a session was started through (NULL: password).
docs/sso.md has the design.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0770_i13_sso"
down_revision: str | Sequence[str] | None = "0760_i15_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    app = app_role()
    for stmt in [
        """CREATE TABLE sso_connections (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            protocol text NOT NULL CHECK (protocol IN ('oidc', 'saml')),
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
            enabled boolean NOT NULL DEFAULT true,
            config jsonb NOT NULL DEFAULT '{}'::jsonb,
            secret_enc bytea,
            jit_provisioning boolean NOT NULL DEFAULT false,
            default_role text NOT NULL DEFAULT 'member'
                CHECK (default_role IN ('admin', 'member', 'viewer')),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id)
        )""",
        "CREATE INDEX sso_connections_created ON sso_connections (tenant_id, created_at, id)",
        *tenant_rls("sso_connections"),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON sso_connections TO {app}",
        """CREATE TABLE sso_login_states (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            state_hash bytea NOT NULL,
            connection_id uuid NOT NULL,
            browser_hash bytea NOT NULL,
            nonce text NOT NULL,
            code_verifier text NOT NULL,
            return_to text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT sso_login_states_tenant_id_state_hash_key UNIQUE (tenant_id, state_hash),
            FOREIGN KEY (tenant_id, connection_id) REFERENCES sso_connections (tenant_id, id)
                ON DELETE CASCADE
        )""",
        "CREATE INDEX sso_login_states_expires ON sso_login_states (tenant_id, expires_at)",
        *tenant_rls("sso_login_states"),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON sso_login_states TO {app}",
        """CREATE TABLE sso_login_codes (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            code_hash bytea NOT NULL,
            session_id uuid NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT sso_login_codes_tenant_id_code_hash_key UNIQUE (tenant_id, code_hash),
            FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id)
                ON DELETE CASCADE
        )""",
        *tenant_rls("sso_login_codes"),
        f"GRANT SELECT, INSERT, UPDATE ON sso_login_codes TO {app}",
        """CREATE TABLE sso_settings (
            tenant_id uuid NOT NULL PRIMARY KEY
                REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            enforced boolean NOT NULL DEFAULT false,
            owner_break_glass boolean NOT NULL DEFAULT true,
            updated_at timestamptz NOT NULL DEFAULT now()
        )""",
        *tenant_rls("sso_settings"),
        f"GRANT SELECT, INSERT, UPDATE ON sso_settings TO {app}",
        "ALTER TABLE sessions ADD COLUMN sso_connection_id uuid",
    ]:
        op.execute(stmt)


def downgrade() -> None:
    op.execute("ALTER TABLE sessions DROP COLUMN IF EXISTS sso_connection_id")
    for table in ("sso_settings", "sso_login_codes", "sso_login_states", "sso_connections"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
