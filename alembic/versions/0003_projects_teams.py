"""Projects, teams, memberships, invitations and the reachable_projects view

Revision ID: 0003_projects_teams
Revises: 0002_tenants_identity

The SQL is in alembic/sql/0003_projects_teams.sql (functions in alembic/sql/functions/, included by it);
alembic/README.md says how a later change adds to it.
"""

from app.core.migrate import sql_revision

revision = "0003_projects_teams"
down_revision = "0002_tenants_identity"
upgrade, downgrade = sql_revision(revision)
