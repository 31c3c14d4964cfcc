"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}

The SQL is in alembic/sql/${up_revision}.sql (new function versions in alembic/sql/functions/,
included by it); alembic/README.md has the rules.
"""

from app.core.migrate import sql_revision

revision = ${repr(up_revision).replace("'", '"')}
down_revision = ${repr(down_revision).replace("'", '"')}
upgrade, downgrade = sql_revision(revision)
