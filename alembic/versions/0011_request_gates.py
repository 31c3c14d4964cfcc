"""Request gates: the enter_*/gate_* functions that open every request's transaction

Revision ID: 0011_request_gates
Revises: 0010_limits_idempotency

The SQL is in alembic/sql/0011_request_gates.sql (functions in alembic/sql/functions/, included by it);
alembic/README.md says how a later change adds to it.
"""

from app.core.migrate import sql_revision

revision = "0011_request_gates"
down_revision = "0010_limits_idempotency"
upgrade, downgrade = sql_revision(revision)
