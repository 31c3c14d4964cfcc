"""teams lists: invitation resend bookkeeping and the indexes the teams/members lists page by

Revision ID: 0401_teams_lists
Revises: 0400_teams_access
Create Date: 2026-11-21 13:10

- invitations.ttl_seconds: the lifetime chosen at creation, reused by resend (new expiry).
- invitations.sent_count / last_sent_at: how often and when the link was emailed.
- Keyset pages ordered by (created_at, id) for teams, users (members) and pending invitations.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0401_teams_lists"
down_revision: str | Sequence[str] | None = "0400_teams_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for stmt in [
        "ALTER TABLE invitations ADD COLUMN ttl_seconds integer NOT NULL DEFAULT 604800"
        " CHECK (ttl_seconds BETWEEN 60 AND 2592000)",
        "ALTER TABLE invitations ADD COLUMN sent_count integer NOT NULL DEFAULT 1"
        " CHECK (sent_count >= 1)",
        "ALTER TABLE invitations ADD COLUMN last_sent_at timestamptz",
        "CREATE INDEX teams_created ON teams (tenant_id, created_at, id)",
        "CREATE INDEX users_created ON users (tenant_id, created_at, id)",
        "CREATE INDEX invitations_pending_created ON invitations (tenant_id, created_at, id)"
        " WHERE accepted_at IS NULL AND revoked_at IS NULL",
        "CREATE INDEX team_memberships_team_created"
        " ON team_memberships (tenant_id, team_id, created_at, user_id)",
        "CREATE INDEX team_projects_team_created"
        " ON team_projects (tenant_id, team_id, created_at, project_id)",
    ]:
        op.execute(stmt)


def downgrade() -> None:
    for stmt in [
        "DROP INDEX IF EXISTS team_projects_team_created",
        "DROP INDEX IF EXISTS team_memberships_team_created",
        "DROP INDEX IF EXISTS invitations_pending_created",
        "DROP INDEX IF EXISTS users_created",
        "DROP INDEX IF EXISTS teams_created",
        "ALTER TABLE invitations DROP COLUMN IF EXISTS last_sent_at",
        "ALTER TABLE invitations DROP COLUMN IF EXISTS sent_count",
        "ALTER TABLE invitations DROP COLUMN IF EXISTS ttl_seconds",
    ]:
        op.execute(stmt)
