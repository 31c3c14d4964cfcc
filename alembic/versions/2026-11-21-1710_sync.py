"""sync ingest: scans, their gate results, and violations by fingerprint

Revision ID: 0201_sync
Revises: 0200_webhooks
Create Date: 2026-11-21 17:10

POST /api/v1/sync stores a scan summary (one row per client scan id and project, so a
re-sent sync is recognised), its gate results, and upserts violations by fingerprint: the
first time a fingerprint is seen in a project is what makes a violation "new". Source code
(`code`/`snippet` in the client payload) is never stored.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0201_sync"
down_revision: str | Sequence[str] | None = "0200_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    app = app_role()
    sql = [
        """CREATE TABLE scans (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            project_id uuid NOT NULL,
            external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 200),
            started_at timestamptz NOT NULL,
            completed_at timestamptz NOT NULL,
            files_scanned integer NOT NULL CHECK (files_scanned >= 0),
            duration_ms bigint NOT NULL CHECK (duration_ms >= 0),
            counts jsonb NOT NULL DEFAULT '{}'::jsonb,
            gates_total integer NOT NULL DEFAULT 0,
            gates_failed integer NOT NULL DEFAULT 0,
            violations_received integer NOT NULL DEFAULT 0,
            violations_new integer NOT NULL DEFAULT 0,
            synced_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            UNIQUE (tenant_id, project_id, external_id),
            FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)
                ON DELETE CASCADE
        )""",
        "CREATE INDEX scans_project ON scans (tenant_id, project_id, created_at)",
        """CREATE TABLE scan_gate_results (
            tenant_id uuid NOT NULL,
            scan_id uuid NOT NULL,
            gate text NOT NULL CHECK (length(gate) BETWEEN 1 AND 200),
            passed boolean NOT NULL,
            score double precision NOT NULL,
            threshold double precision NOT NULL,
            PRIMARY KEY (tenant_id, scan_id, gate),
            FOREIGN KEY (tenant_id, scan_id) REFERENCES scans (tenant_id, id) ON DELETE CASCADE
        )""",
        """CREATE TABLE violations (
            tenant_id uuid NOT NULL,
            project_id uuid NOT NULL,
            fingerprint text NOT NULL CHECK (length(fingerprint) BETWEEN 1 AND 200),
            rule text NOT NULL,
            severity text NOT NULL
                CHECK (severity IN ('critical', 'high', 'medium', 'low', 'info')),
            file text NOT NULL,
            line integer,
            message text NOT NULL,
            first_seen_at timestamptz NOT NULL,
            last_seen_at timestamptz NOT NULL,
            first_scan_id uuid NOT NULL,
            last_scan_id uuid NOT NULL,
            occurrences integer NOT NULL DEFAULT 1,
            PRIMARY KEY (tenant_id, project_id, fingerprint),
            FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)
                ON DELETE CASCADE
        )""",
    ]
    for table in ("scans", "scan_gate_results", "violations"):
        sql += tenant_rls(table)
    sql += [
        f"GRANT SELECT, INSERT, UPDATE ON scans TO {app}",
        f"GRANT SELECT, INSERT ON scan_gate_results TO {app}",
        f"GRANT SELECT, INSERT, UPDATE ON violations TO {app}",
    ]
    for stmt in sql:
        op.execute(stmt)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS violations, scan_gate_results, scans CASCADE")
