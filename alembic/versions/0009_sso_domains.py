"""SSO and verified domains

Revision ID: 0009_sso_domains
Revises: 0008_sync

The SQL is in alembic/sql/0009_sso_domains.sql (functions in alembic/sql/functions/, included by it);
alembic/README.md says how a later change adds to it.
"""

from app.core.migrate import sql_revision

revision = "0009_sso_domains"
down_revision = "0008_sync"
upgrade, downgrade = sql_revision(revision)
