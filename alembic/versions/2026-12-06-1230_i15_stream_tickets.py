"""i15-browser: single-use tickets for opening the live audit stream from a browser

Revision ID: 0730_i15_stream_tickets
Revises: 0721_i13_domains
Create Date: 2026-12-06 12:00

`EventSource` cannot send an Authorization header, so a page first asks for a ticket with its
bearer credential (POST /api/v1/audit/stream/tickets) and opens the stream with
`?ticket=...`. A ticket is a random secret stored as SHA-256, bound to the tenant and the
credential (API key or session) that asked for it, valid for 60 s and for one use. It is
indexed in drift_private.token_index (kind 'stream_ticket') by the generic index_token
trigger, so the stream request finds its tenant; deleting a ticket (pruning, in the issuing
request) removes its index row too.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0730_i15_stream_tickets"
down_revision: str | Sequence[str] | None = "0721_i13_domains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = pg_catalog, pg_temp"


def upgrade() -> None:
    app = app_role()
    sql = [
        """CREATE TABLE audit_stream_tickets (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            ticket_hash bytea NOT NULL UNIQUE,
            credential_type text NOT NULL CHECK (credential_type IN ('api_key', 'session')),
            credential_id uuid NOT NULL,
            user_id uuid NOT NULL,
            created_ip inet,
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            used_ip inet,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
        )""",
        "CREATE INDEX audit_stream_tickets_expires ON audit_stream_tickets (tenant_id, expires_at)",
        """CREATE TRIGGER audit_stream_tickets_index AFTER INSERT ON audit_stream_tickets
            FOR EACH ROW EXECUTE FUNCTION
            drift_private.index_token('stream_ticket', 'ticket_hash', 'id')""",
        f"""CREATE FUNCTION drift_private.unindex_stream_ticket() RETURNS trigger
            LANGUAGE plpgsql {DEFINER} AS $$
        BEGIN
            DELETE FROM drift_private.token_index
             WHERE token_hash = OLD.ticket_hash AND kind = 'stream_ticket';
            RETURN NULL;
        END $$""",
        """CREATE TRIGGER audit_stream_tickets_unindex AFTER DELETE ON audit_stream_tickets
            FOR EACH ROW EXECUTE FUNCTION drift_private.unindex_stream_ticket()""",
        *tenant_rls("audit_stream_tickets"),
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON audit_stream_tickets TO {app}",
    ]
    for statement in sql:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE audit_stream_tickets")
    op.execute("DROP FUNCTION drift_private.unindex_stream_ticket()")
    op.execute("DELETE FROM drift_private.token_index WHERE kind = 'stream_ticket'")
