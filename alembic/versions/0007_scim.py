"""SCIM: provisioning tokens and group mappings

Revision ID: 0007_scim
Revises: 0006_ip_allowlist

The SQL is in alembic/sql/0007_scim.sql (functions in alembic/sql/functions/, included by it);
alembic/README.md says how a later change adds to it.
"""

from app.core.migrate import sql_revision

revision = "0007_scim"
down_revision = "0006_ip_allowlist"
upgrade, downgrade = sql_revision(revision)
