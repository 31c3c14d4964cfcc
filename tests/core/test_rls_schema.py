"""The database objects are shaped as docs/ARCHITECTURE.md requires (checked from the catalogue)."""

from __future__ import annotations

import asyncpg
import pytest

from tests.conftest import DbInfo

pytestmark = pytest.mark.isolation


async def test_every_tenant_table_forces_rls_with_the_one_policy(
        owner_conn: asyncpg.Connection) -> None:
    rows = await owner_conn.fetch(
        "SELECT c.oid, c.relname, c.relrowsecurity, c.relforcerowsecurity"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')")
    assert len(rows) >= 10
    predicates = set()
    for r in rows:
        assert r["relrowsecurity"] and r["relforcerowsecurity"], r["relname"]
        policies = await owner_conn.fetch(
            "SELECT polcmd::text AS polcmd, polpermissive, pg_get_expr(polqual, polrelid) AS q,"
            " pg_get_expr(polwithcheck, polrelid) AS c FROM pg_policy WHERE polrelid = $1",
            r["oid"])
        assert len(policies) == 1, f"{r['relname']} must have exactly one policy"
        p = policies[0]
        assert p["polcmd"] == "*" and p["polpermissive"]
        assert p["q"] == p["c"], f"{r['relname']}: USING and WITH CHECK differ"
        assert "current_setting('app.tenant_id'::text, true)" in p["q"]
        assert "NULLIF" in p["q"] and p["q"].startswith("(tenant_id = (")
        predicates.add(p["q"])
        pk = await owner_conn.fetchval(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
            " WHERE i.indrelid = $1 AND i.indisprimary", r["oid"])
        assert pk == "tenant_id", f"{r['relname']}: primary key must start with tenant_id"
    assert len(predicates) == 1, f"tenant tables differ in their policy: {predicates}"


async def test_runtime_role_is_safe_and_owns_nothing(app_conn: asyncpg.Connection) -> None:
    row = await app_conn.fetchrow(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
        " WHERE rolname = current_user")
    assert not any(row.values())
    owned = await app_conn.fetchval(
        "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles"
        " WHERE rolname = current_user)")
    assert owned == 0
    # the audit log: insert and read only
    privs = await app_conn.fetchrow(
        "SELECT has_table_privilege('audit_events', 'INSERT') i,"
        " has_table_privilege('audit_events', 'SELECT') s,"
        " has_table_privilege('audit_events', 'UPDATE') u,"
        " has_table_privilege('audit_events', 'DELETE') d,"
        " has_table_privilege('audit_events', 'TRUNCATE') t")
    assert (privs["i"], privs["s"], privs["u"], privs["d"], privs["t"]) == (
        True, True, False, False, False)


async def test_every_function_pins_its_search_path(owner_conn: asyncpg.Connection) -> None:
    """Definer or not, every function of ours runs with the pinned search_path (the
    `:definer` or `:pinned_search_path` of its header, app.core.migrate.HEADERS)."""
    rows = await owner_conn.fetch(
        "SELECT n.nspname || '.' || p.proname AS name, p.prosecdef, p.proconfig"
        " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname IN ('public', 'drift_api', 'drift_private')")
    assert sum(r["prosecdef"] for r in rows) >= 35  # the query sees our definer functions
    unpinned = [r["name"] for r in rows
                if "search_path=pg_catalog, pg_temp" not in (r["proconfig"] or [])]
    assert unpinned == []


async def test_definer_functions_pin_search_path_and_are_not_public(
        owner_conn: asyncpg.Connection, test_db: DbInfo) -> None:
    rows = await owner_conn.fetch(
        "SELECT p.proname, p.prosecdef, p.proconfig, p.proacl::text AS acl"
        " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'drift_api'")
    assert rows
    for r in rows:
        assert r["prosecdef"], r["proname"]
        assert any(c.startswith("search_path=pg_catalog") for c in r["proconfig"] or []), \
            r["proname"]
        items = (r["acl"] or "{}").strip("{}").split(",")
        assert not any(i.startswith("=") for i in items), \
            f"{r['proname']}: PUBLIC may execute it"
        assert any(i.startswith(f"{test_db.app_role}=X/") for i in items), \
            f"{r['proname']}: runtime role cannot run it"
