"""Outboxes: domain events, email, webhook endpoints and deliveries

Revision ID: 0005_outboxes_webhooks
Revises: 0004_audit

The SQL is in alembic/sql/0005_outboxes_webhooks.sql (functions in alembic/sql/functions/, included by it);
alembic/README.md says how a later change adds to it.
"""

from app.core.migrate import sql_revision

revision = "0005_outboxes_webhooks"
down_revision = "0004_audit"
upgrade, downgrade = sql_revision(revision)
