"""Platform: the drift_private and drift_api schemas, default privileges

Revision ID: 0001_platform
Revises:

The SQL is in alembic/sql/0001_platform.sql (functions in alembic/sql/functions/, included by it);
alembic/README.md says how a later change adds to it.
"""

from app.core.migrate import sql_revision

revision = "0001_platform"
down_revision = None
upgrade, downgrade = sql_revision(revision)
