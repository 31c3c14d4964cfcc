"""The migration chain stays readable and reversible (alembic/README.md).

- Revision ids follow file order, each revising the one before.
- `:"app_role"` and `:'app_role'` render as the runtime role's quoted name and string literal.
- Every function body is defined once, in alembic/sql/functions/, and each file is loaded by
  one revision; its header names its security with `:definer` or `:pinned_search_path`
  (app.core.migrate.HEADERS), never spelled out.
- `alembic downgrade base` removes everything the chain built, and upgrading again gives the
  same catalogue as the session's test database (functions, triggers, policies, grants,
  indexes, partitions, comments).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from alembic.script import ScriptDirectory

from alembic import command
from app.core.db import connect
from app.core.migrate import HEADERS, SQL_DIR, alembic_config, render_sql
from tests.conftest import DbInfo, scratch_database

_CREATE_FUNCTION = re.compile(r"^CREATE (OR REPLACE )?FUNCTION ", re.MULTILINE)
_INCLUDE = re.compile(r"^\\ir functions/(\S+)$", re.MULTILINE)
_HEADER_WORD = re.compile(r"(?<![:\w]):(definer|pinned_search_path)\b")

# What the chain builds, as the catalogue has it (role names as they are: same roles).
_CATALOGUE = [
    # (the public schema's owner depends on how the database was set up, not on migrations)
    "SELECT n.nspname, n.nspacl::text FROM pg_namespace n"
    " WHERE n.nspname IN ('drift_api', 'drift_private') ORDER BY 1",
    "SELECT p.oid::regprocedure::text, p.prosrc, p.provolatile, p.prosecdef,"
    " p.proconfig::text, p.proacl::text FROM pg_proc p JOIN pg_namespace n"
    " ON n.oid = p.pronamespace WHERE n.nspname IN ('public', 'drift_api', 'drift_private')"
    " ORDER BY 1",
    "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
    " JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal ORDER BY 1, 2",
    "SELECT schemaname, tablename, policyname, qual, with_check FROM pg_policies ORDER BY 1, 2, 3",
    "SELECT schemaname, indexname, indexdef FROM pg_indexes"
    " WHERE schemaname IN ('public', 'drift_private') ORDER BY 1, 2",
    "SELECT n.nspname, c.relname, c.relkind::text, c.relrowsecurity, c.relforcerowsecurity,"
    " c.relacl::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_class c JOIN pg_namespace n"
    " ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'drift_api', 'drift_private')"
    " ORDER BY 1, 2",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conrelid <> 0 ORDER BY 1, 2",
    "SELECT objoid::regclass::text, objsubid, description FROM pg_description"
    " WHERE classoid = 'pg_class'::regclass ORDER BY 1, 2",
    "SELECT defaclobjtype::text, defaclacl::text FROM pg_default_acl ORDER BY 1",
    # the one row the migrations seed (the allowlist change counter; its value moves with use,
    # and the test database has been used by the tests before this one)
    "SELECT one FROM drift_private.ip_allowlist_seq",
]


def test_revision_ids_follow_file_order() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    chain = list(reversed(list(script.walk_revisions())))  # base first
    assert [r.revision for r in chain] == sorted(r.revision for r in chain)
    for previous, rev in zip([None, *chain], chain, strict=False):
        assert Path(rev.path).stem == rev.revision
        assert rev.down_revision == (previous.revision if previous else None)


def test_every_function_body_is_defined_once() -> None:
    revision_sql = {p.name: p.read_text() for p in SQL_DIR.glob("*.sql")}
    assert revision_sql
    for name, text in revision_sql.items():
        assert not _CREATE_FUNCTION.search(text), f"{name}: put the function in functions/"
    included = [f for n, t in revision_sql.items() if not n.endswith(".down.sql")
                for f in _INCLUDE.findall(t)]
    files = sorted(p.name for p in (SQL_DIR / "functions").glob("*.sql"))
    assert sorted(included) == files  # each loaded by exactly one revision
    for f in files:
        assert re.fullmatch(r"(drift_api|drift_private|public)\.\w+\.v\d+\.sql", f), f
        assert len(_CREATE_FUNCTION.findall((SQL_DIR / "functions" / f).read_text())) == 1, f


def test_the_runtime_role_is_quoted_as_an_identifier_and_as_a_literal() -> None:
    sql = render_sql("0002_tenants_identity.sql", 'o\'dd"role')
    assert ':"app_role"' not in sql and ":'app_role'" not in sql
    assert 'TO "o\'dd""role";' in sql  # function grants
    assert "'SELECT, INSERT, UPDATE', 'o''dd\"role');" in sql  # declare_tenant_table


def test_function_headers_name_their_security() -> None:
    for f in sorted((SQL_DIR / "functions").glob("*.sql")):
        text = f.read_text()
        header = text.split("AS $", 1)[0]
        assert len(_HEADER_WORD.findall(header)) == 1, f"{f.name}: :definer or :pinned_search_path"
        assert not re.search(r"SECURITY DEFINER|SET search_path", text), f"{f.name}: by hand"
    rendered = render_sql("0002_tenants_identity.sql", "drift_app")
    assert not _HEADER_WORD.search(rendered)
    assert f"LANGUAGE plpgsql {HEADERS[':definer']}\n" in rendered


async def _catalogue(url: str) -> list[list[tuple[object, ...]]]:
    conn = await connect(url)
    try:
        return [[tuple(r) for r in await conn.fetch(q)] for q in _CATALOGUE]
    finally:
        await conn.close()


async def test_downgrade_to_base_and_up_again_rebuilds_the_same_schema(test_db: DbInfo) -> None:
    async with scratch_database(test_db, "heads") as (owner_url, _db):
        cfg = alembic_config(owner_url, test_db.app_role)
        await asyncio.to_thread(command.downgrade, cfg, "base")
        conn = await connect(owner_url)
        try:
            left = await conn.fetch(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog',"
                " 'information_schema', 'pg_toast') AND c.relname NOT LIKE 'alembic_version%'")
            schemas = await conn.fetch(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'drift%'")
            functions = await conn.fetch(
                "SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n"
                " ON n.oid = p.pronamespace WHERE n.nspname = 'public'")
        finally:
            await conn.close()
        assert (left, schemas, functions) == ([], [], [])
        await asyncio.to_thread(command.upgrade, cfg, "heads")
        assert await _catalogue(owner_url) == await _catalogue(test_db.owner_url)
