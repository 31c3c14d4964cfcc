"""Tenants and identity: slug and token indexes, tenants, users, API keys, sessions, login throttle

Revision ID: 0002_tenants_identity
Revises: 0001_platform

The SQL is in alembic/sql/0002_tenants_identity.sql (functions in alembic/sql/functions/, included by it);
alembic/README.md says how a later change adds to it.
"""

from app.core.migrate import sql_revision

revision = "0002_tenants_identity"
down_revision = "0001_platform"
upgrade, downgrade = sql_revision(revision)
