"""Citus-ready, checked from the catalogue (docs/scaling.md, "Citus").

Every table in `public` with a tenant_id column is a tenant table: Citus would distribute it by
tenant_id. Then its primary key and every unique constraint (or unique index) must start with
tenant_id, and every foreign key between tenant tables must carry tenant_id on both sides at
the same position, so each tenant's rows and their joins stay on one node. Everything else is
a reference (global) table, listed here once; cross-tenant query paths are the definer
functions listed here once. A new table or function of either kind fails this test until it
is listed with its reason.
"""

from __future__ import annotations

import asyncpg
import pytest

from app.core.errors import Conflict
from app.core.runtime import Runtime
from app.tenants.service import create_tenant
from tests.conftest import Tenant

pytestmark = pytest.mark.isolation

# Global tables (Citus reference tables, or local tables on the coordinator), and why.
REFERENCE_TABLES: dict[str, str] = {
    "public.alembic_version": "the schema version (migrations run on the coordinator)",
    "drift_private.tenant_index": "slug -> tenant before any tenant is known (sign-in by "
                                  "slug); holds the global uniqueness of tenant slugs",
    "drift_private.token_index": "bearer-secret hash -> tenant, before any tenant is known; "
                                 "holds the global uniqueness of every secret hash",
    "drift_private.domain_index": "verified domain -> tenant (home-realm discovery); one "
                                  "tenant per domain",
    "drift_private.ip_allowlist_seq": "one counter behind the allowlist caches' NOTIFY order",
    "drift_private.audit_stream_listeners": "which processes stream which tenant's audit "
                                            "events (leases), read by the NOTIFY trigger",
    "drift_private.auth_throttle": "failed sign-ins and token guesses by hashed key, counted "
                                   "before any tenant is known (docs/operations.md)",
}

# Definer functions that read drift_private.tenant_index, or visit tenants through
# drift_private.tenants_with_work or drift_private.queue_depths: the only query paths that
# cross tenants. Each visits
# tenants one by one (entering each under RLS) or reads the index itself.
CROSS_TENANT_FUNCTIONS: dict[str, str] = {
    "drift_api.all_tenant_ids": "every tenant id (worker jobs that visit each tenant)",
    "drift_api.list_tenants": "the operator CLI's tenant list",
    "drift_api.tenant_id_for_slug": "sign-in by slug: one lookup in the index",
    "drift_api.tenants_with_due_email": "the email worker: tenants with due messages",
    "drift_api.tenants_with_due_webhooks": "the webhook worker: tenants with due deliveries",
    "drift_api.tenants_with_expiring_api_keys": "the expiry notifier: tenants to warn",
    "drift_api.queue_stats": "GET /metrics: queue depth summed over tenants (aggregates only)",
    "drift_private.queue_depths": "queue_stats' one loop over tenants (per-queue counts only, "
                                  "no tenant ids)",
    "drift_api.audit_drop_expired_partitions": "audit retention: partitions span tenants",
    "drift_private.index_tenant": "the trigger that keeps tenant_index in step with tenants",
    "drift_api.tenants_with_audit_streams": "the SIEM push job: tenants with active streams "
                                            "(tenant ids only)",
    "drift_private.tenants_with_work": "the four tenants_with_* polls' one loop (tenant ids "
                                       "and a due flag only)",
}


async def _tables(conn: asyncpg.Connection) -> list[dict[str, object]]:
    rows = await conn.fetch(
        "SELECT c.oid, n.nspname || '.' || c.relname AS name, n.nspname AS schema,"
        " EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid"
        "         AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS has_tenant"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname IN ('public', 'drift_private', 'drift_api')"
        " AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 2")
    return [dict(r) for r in rows]


async def test_tenant_tables_keys_start_with_tenant_id(owner_conn: asyncpg.Connection) -> None:
    tables = await _tables(owner_conn)
    tenant = {t["oid"]: t["name"] for t in tables
              if t["schema"] == "public" and t["has_tenant"]}
    reference = {str(t["name"]) for t in tables if t["oid"] not in tenant}
    assert len(tenant) >= 25
    assert reference == set(REFERENCE_TABLES), \
        "list every global table in REFERENCE_TABLES with its reason"

    bad: list[str] = []
    keys = await owner_conn.fetch(
        "SELECT ix.indrelid AS rel, i.relname AS idx, ix.indisprimary AS pk,"
        " (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = ix.indrelid"
        "  AND a.attnum = ix.indkey[0]) AS first"
        " FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid"
        " WHERE ix.indisunique AND ix.indrelid = ANY($1::oid[])", list(tenant))
    with_pk = {k["rel"] for k in keys if k["pk"]}
    bad += [f"{tenant[o]}: no primary key" for o in tenant if o not in with_pk]
    bad += [f"{tenant[k['rel']]}: {k['idx']} does not start with tenant_id"
            for k in keys if k["first"] != "tenant_id"]

    fks = await owner_conn.fetch(
        "SELECT con.conname, con.conrelid, con.confrelid,"
        " ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o)"
        "       JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n"
        "       ORDER BY k.o)::text[] AS cols,"
        " ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, o)"
        "       JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n"
        "       ORDER BY k.o)::text[] AS refcols"
        " FROM pg_constraint con WHERE con.contype = 'f' AND con.conparentid = 0"
        " AND (con.conrelid = ANY($1::oid[]) OR con.confrelid = ANY($1::oid[]))",
        list(tenant))
    assert len(fks) >= 30
    for fk in fks:
        src, dst = fk["conrelid"] in tenant, fk["confrelid"] in tenant
        if src and dst:
            cols, refcols = list(fk["cols"]), list(fk["refcols"])
            if "tenant_id" not in cols or "tenant_id" not in refcols \
                    or cols.index("tenant_id") != refcols.index("tenant_id"):
                bad.append(f"{fk['conname']}: {cols} -> {refcols} does not pair tenant_id")
        elif dst:  # a global table pointing into a tenant table
            bad.append(f"{fk['conname']}: a reference table refers to a tenant table")
    assert bad == [], "\n".join(bad)


async def test_cross_tenant_paths_are_the_listed_ones(owner_conn: asyncpg.Connection) -> None:
    rows = await owner_conn.fetch(
        "SELECT n.nspname || '.' || p.proname AS name, p.prosecdef"
        " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname IN ('drift_api', 'drift_private') AND p.prokind = 'f'"
        " AND p.prosrc ~ 'tenant_index|tenants_with_work|queue_depths'")
    assert {r["name"] for r in rows} == set(CROSS_TENANT_FUNCTIONS), \
        "list every function crossing tenants in CROSS_TENANT_FUNCTIONS"
    assert all(r["prosecdef"] for r in rows)  # definer: the runtime role cannot read it


async def test_tenant_slugs_stay_globally_unique(runtime: Runtime, tenant: Tenant,
                                                 superuser_conn: asyncpg.Connection) -> None:
    """The per-tenant unique constraint on tenants.slug does not let a second tenant take a
    slug: drift_private.tenant_index (a reference table) still refuses it, in the same
    transaction, and nothing of the second tenant is left behind."""
    with pytest.raises(Conflict) as refused:
        await create_tenant(runtime.db, name="Copycat", slug=tenant.slug,
                            owner_email=f"owner@copy-{tenant.slug}.example")
    assert refused.value.code == "slug_taken"
    # the superuser sees every tenant's rows
    assert await superuser_conn.fetchval("SELECT count(*) FROM drift_private.tenant_index"
                                         " WHERE slug = $1", tenant.slug) == 1
    assert await superuser_conn.fetchval("SELECT count(*) FROM tenants WHERE slug = $1",
                                         tenant.slug) == 1
    assert await superuser_conn.fetchval("SELECT count(*) FROM users WHERE email = $1",
                                         f"owner@copy-{tenant.slug}.example") == 0
