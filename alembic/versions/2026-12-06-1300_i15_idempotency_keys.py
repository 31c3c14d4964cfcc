"""i15 idempotency keys: the stored first response of a POST sent with an Idempotency-Key

Revision ID: 0760_i15_idempotency
Revises: 0750_i14_limits
Create Date: 2026-12-07 10:00

One row per (tenant, key), written in the request's own transaction so it commits exactly
when the change does (app.core.idempotency). `request_hash` is the SHA-256 of the caller, the
method, the path and the body; `body` is the response body encrypted with a key derived from
DRIFT_SECRET_KEY (it may carry a secret shown once: an API key, a webhook signing secret).
Rows expire 24 hours after `created_at` (`expires_at`); expired rows are removed lazily.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0760_i15_idempotency"
down_revision: str | Sequence[str] | None = "0750_i14_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    app = app_role()
    for stmt in [
        """CREATE TABLE idempotency_keys (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
            request_hash bytea NOT NULL,
            method text NOT NULL,
            path text NOT NULL,
            status integer NOT NULL,
            headers jsonb NOT NULL,
            body bytea NOT NULL,
            created_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, key)
        )""",
        "CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (tenant_id, expires_at)",
        *tenant_rls("idempotency_keys"),
        f"GRANT SELECT, INSERT, DELETE ON idempotency_keys TO {app}",
    ]:
        op.execute(stmt)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS idempotency_keys")
