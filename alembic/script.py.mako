"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}

The SQL is in alembic/sql/${up_revision}.sql (new function versions in alembic/sql/functions/,
included by it); alembic/README.md has the rules.
"""

from app.core.migrate import run_sql

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision).replace("'", '"')}
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("${up_revision}.sql")


def downgrade() -> None:
    run_sql("${up_revision}.down.sql")
