"""IP allowlist: entries, resets, report, the change sequence

Revision ID: 0006_ip_allowlist
Revises: 0005_outboxes_webhooks

The SQL is in alembic/sql/0006_ip_allowlist.sql (functions in alembic/sql/functions/, included by it);
alembic/README.md says how a later change adds to it.
"""

from app.core.migrate import sql_revision

revision = "0006_ip_allowlist"
down_revision = "0005_outboxes_webhooks"
upgrade, downgrade = sql_revision(revision)
