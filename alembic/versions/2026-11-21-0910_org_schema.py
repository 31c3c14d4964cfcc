"""org schema: teams, team memberships, team projects, invitations

Revision ID: 0002_org_schema
Revises: 0001_foundation
Create Date: 2026-11-21 09:10

Shared by SCIM (a SCIM group is a team; seats count pending invitations) and the teams
capability, so both can build on the same tables.
"""

from collections.abc import Sequence

from alembic import op
from app.core.migrate import app_role, tenant_rls

revision: str = "0002_org_schema"
down_revision: str | Sequence[str] | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    app = app_role()
    sql = [
        """CREATE TABLE teams (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            description text CHECK (description IS NULL OR length(description) <= 2000),
            scim_managed boolean NOT NULL DEFAULT false,
            external_id text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id)
        )""",
        "CREATE UNIQUE INDEX teams_name_uq ON teams (tenant_id, lower(name))",
        """CREATE TABLE team_memberships (
            tenant_id uuid NOT NULL,
            team_id uuid NOT NULL,
            user_id uuid NOT NULL,
            role text NOT NULL DEFAULT 'member' CHECK (role IN ('lead', 'member')),
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, team_id, user_id),
            FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
        )""",
        "CREATE INDEX team_memberships_user ON team_memberships (tenant_id, user_id)",
        """CREATE TABLE team_projects (
            tenant_id uuid NOT NULL,
            team_id uuid NOT NULL,
            project_id uuid NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, team_id, project_id),
            FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
            FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)
                ON DELETE CASCADE
        )""",
        "CREATE INDEX team_projects_project ON team_projects (tenant_id, project_id)",
        """CREATE TABLE invitations (
            tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            email text NOT NULL CHECK (length(email) <= 320),
            role text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
            team_id uuid,
            token_hash bytea NOT NULL UNIQUE,
            expires_at timestamptz NOT NULL,
            accepted_at timestamptz,
            accepted_user_id uuid,
            revoked_at timestamptz,
            invited_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE SET NULL (team_id)
        )""",
        "CREATE INDEX invitations_email ON invitations (tenant_id, lower(email))"
        " WHERE accepted_at IS NULL AND revoked_at IS NULL",
        # invitation links are bearer secrets: index them like the other tokens
        """CREATE TRIGGER invitations_index AFTER INSERT OR UPDATE OF token_hash ON invitations
            FOR EACH ROW EXECUTE FUNCTION drift_private.index_token('invitation', 'token_hash', 'id')""",
    ]
    for table in ("teams", "team_memberships", "team_projects", "invitations"):
        sql += tenant_rls(table)
    sql += [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON teams TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON team_memberships TO {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON team_projects TO {app}",
        f"GRANT SELECT, INSERT, UPDATE ON invitations TO {app}",
    ]
    for stmt in sql:
        op.execute(stmt)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS invitations, team_projects, team_memberships, teams CASCADE")
