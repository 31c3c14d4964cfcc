"""Tenant rate limits and idempotency keys

Revision ID: 0010_limits_idempotency
Revises: 0009_sso_domains

The SQL is in alembic/sql/0010_limits_idempotency.sql (functions in alembic/sql/functions/, included by it);
alembic/README.md says how a later change adds to it.
"""

from app.core.migrate import sql_revision

revision = "0010_limits_idempotency"
down_revision = "0009_sso_domains"
upgrade, downgrade = sql_revision(revision)
