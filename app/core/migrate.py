"""Running Alembic migrations as the owner role, and the loader the revisions share.

Revisions are thin: `alembic/versions/NNNN_<name>.py` is `upgrade, downgrade =
sql_revision(revision)`, which runs `alembic/sql/NNNN_<name>.sql` (`.down.sql` to go back).
Rules (alembic/README.md, docs/ARCHITECTURE.md, "Migrations"):

- A revision's SQL file may include another file with a line `\\ir <relative path>` (psql's
  include-relative). Every function or trigger function body is defined once, in
  `alembic/sql/functions/<schema>.<name>.v<N>.sql`, and included from the revision that
  creates it.
- A released `.sql` file never changes. To change a function, add `<schema>.<name>.v<N+1>.sql`
  (CREATE OR REPLACE, or DROP + CREATE when the signature changes) and a new revision whose
  SQL file includes it; its downgrade includes v<N> again.
- `:"app_role"` (psql's quoted-variable syntax) stands for the runtime role, which reaches the
  revisions through the Alembic config attribute `app_role` (from DRIFT_DATABASE_URL's user;
  drift_app when embedded); `:'app_role'` is its name as a string literal, for a function
  argument (`drift_private.declare_tenant_table`). No other role name is written in the SQL.
- Every function's header names its security in one word (psql's variable syntax), never
  spelled out: `:definer` (SECURITY DEFINER with the pinned search_path) or
  `:pinned_search_path` (the pinned search_path alone, for a function that runs as its
  caller), e.g. `LANGUAGE plpgsql :definer`. So no definer function can leave its
  search_path open (tests/core/test_migrations.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command

ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = ROOT / "alembic" / "sql"

_INCLUDE = re.compile(r"^\\ir (\S+)$", re.MULTILINE)
_APP_ROLE = ':"app_role"'
_APP_ROLE_LITERAL = ":'app_role'"
# What a function header's `:definer` or `:pinned_search_path` stands for: the search_path
# every function runs with (pg_temp last, so a caller's temporary object never shadows a
# name), and a definer function's privilege.
PINNED_SEARCH_PATH = "SET search_path TO 'pg_catalog', 'pg_temp'"
HEADERS = {":pinned_search_path": PINNED_SEARCH_PATH,
           ":definer": f"SECURITY DEFINER {PINNED_SEARCH_PATH}"}
_HEADER = re.compile(r"(?<![:\w])(:pinned_search_path|:definer)\b")


def alembic_config(owner_url: str | None = None, app_role: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    if owner_url is not None:
        cfg.attributes["owner_url"] = owner_url
    if app_role is not None:
        cfg.attributes["app_role"] = app_role
    return cfg


def run_migrations(owner_url: str, app_role: str, revision: str = "heads") -> None:
    """Upgrade to head. Synchronous (Alembic drives its own event loop): call it from a thread
    when an event loop is already running."""
    command.upgrade(alembic_config(owner_url, app_role), revision)


def script_heads() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def render_sql(name: str, app_role: str) -> str:
    """The text of alembic/sql/<name> with its `\\ir` includes expanded (once per file, relative
    to the including file), `:"app_role"` replaced by the quoted role name, `:'app_role'` by
    the name as a string literal, and `:definer` and `:pinned_search_path` by the function
    header clauses they stand for (HEADERS)."""
    seen: set[Path] = set()

    def expand(path: Path) -> str:
        if path in seen:
            raise ValueError(f"{path.relative_to(SQL_DIR)} is included twice")
        seen.add(path)
        text = path.read_text(encoding="utf-8")
        return _INCLUDE.sub(lambda m: expand((path.parent / m.group(1)).resolve()), text)

    text = (expand((SQL_DIR / name).resolve()).replace(_APP_ROLE, quote_ident(app_role))
            .replace(_APP_ROLE_LITERAL, _quote_literal(app_role)))
    return _HEADER.sub(lambda m: HEADERS[m.group(1)], text)


def _configured_app_role() -> str:
    from alembic import context

    role = context.config.attributes.get("app_role")
    if not role:
        raise RuntimeError("app_role is not set: run migrations through `drift-cloud migrate`")
    return str(role)


def app_role() -> str:
    """For revisions that write SQL in Python: the quoted runtime role name to GRANT to."""
    return quote_ident(_configured_app_role())


def tenant_rls(table: str) -> list[str]:
    """For revisions that write SQL in Python: ENABLE + FORCE row-level security and the one
    tenant policy (USING and WITH CHECK), applied by the SQL revisions' own function
    (alembic/sql/functions/drift_private.isolate_tenant_table.v1.sql)."""
    return [f"SELECT drift_private.isolate_tenant_table('{table}')"]


def sql_revision(revision: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """A thin revision's `upgrade` and `downgrade`: run alembic/sql/<revision>.sql and
    alembic/sql/<revision>.down.sql. A revision module is `revision = "NNNN_<name>"`,
    `down_revision = ...` and `upgrade, downgrade = sql_revision(revision)`."""

    def upgrade() -> None:
        run_sql(f"{revision}.sql")

    def downgrade() -> None:
        run_sql(f"{revision}.down.sql")

    return upgrade, downgrade


def run_sql(name: str) -> None:
    """For revisions: run alembic/sql/<name> (see the module docstring) in the revision's
    transaction."""
    from alembic import op

    sql = render_sql(name, _configured_app_role())
    bind = op.get_bind()
    # The file holds many statements, which only the simple query protocol accepts, so it goes
    # to asyncpg directly. A statement through SQLAlchemy first makes the driver open the
    # migration's transaction, so the file runs inside it.
    bind.exec_driver_sql("SELECT 1")
    bind.connection.dbapi_connection.run_async(  # type: ignore[union-attr]
        lambda conn: conn.execute(sql))
