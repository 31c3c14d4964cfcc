"""Sync: scans, gate results, violations

Revision ID: 0008_sync
Revises: 0007_scim

The SQL is in alembic/sql/0008_sync.sql (functions in alembic/sql/functions/, included by it);
alembic/README.md says how a later change adds to it.
"""

from app.core.migrate import sql_revision

revision = "0008_sync"
down_revision = "0007_scim"
upgrade, downgrade = sql_revision(revision)
