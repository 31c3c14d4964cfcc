"""Audit log: partitioned immutable events, hash chain, retention, live streams

Revision ID: 0004_audit
Revises: 0003_projects_teams

The SQL is in alembic/sql/0004_audit.sql (functions in alembic/sql/functions/, included by it);
alembic/README.md says how a later change adds to it.
"""

from app.core.migrate import sql_revision

revision = "0004_audit"
down_revision = "0003_projects_teams"
upgrade, downgrade = sql_revision(revision)
