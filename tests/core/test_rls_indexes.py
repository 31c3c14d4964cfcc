"""Case-insensitive lookups must stay indexable under row-level security.

PostgreSQL evaluates the tenant policy before any condition that passes a column to a function
that is not LEAKPROOF (lower() is not), so `lower(col) = lower($1)` silently turns into a scan
of the whole tenant. With sequential scans disabled, a plan that still scans proves that no
index could serve the query.
"""

from __future__ import annotations

import pytest

from app.core.tx import own_tx
from app.teams.invitations.repository import OPEN_FOR_ADDRESSES
from tests.conftest import Tenant

LOOKUPS = {
    "login by email": "SELECT id FROM users WHERE email_key = lower($1)",
    "member by address": "SELECT id FROM users WHERE email_key = lower($1)"
                         " OR user_name_key = lower($1)",
    "pending invitation by email": "SELECT id FROM invitations WHERE email_key = lower($1)"
                                   " AND accepted_at IS NULL AND revoked_at IS NULL",
    "audit events by actor email": "SELECT id FROM audit_events WHERE tenant_id = $2"
                                   " AND actor_email_key = lower($1) ORDER BY seq LIMIT 50",
}


@pytest.mark.parametrize("name", sorted(LOOKUPS))
async def test_lookup_uses_an_index_under_rls(tenant: Tenant, name: str) -> None:
    sql = LOOKUPS[name]
    args: list[object] = ["Someone@Example.COM"]
    if "$2" in sql:
        args.append(tenant.id)
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        await tx.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await tx.fetch(f"EXPLAIN {sql}", *args))
    assert "Seq Scan" not in plan, f"{name} cannot use an index under RLS:\n{plan}"
    assert "_key" in plan, plan


async def test_open_invitations_by_addresses_use_the_index_under_rls(tenant: Tenant) -> None:
    """supersede_invitations (SCIM create and reactivation) asks for several addresses."""
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        await tx.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await tx.fetch(
            f"EXPLAIN SELECT id FROM invitations WHERE {OPEN_FOR_ADDRESSES}",
            ["A@Example.com", "a@xn--exmple-cua.com"]))
    assert "Seq Scan" not in plan, plan
    assert "email_key" in plan, plan


async def test_the_old_form_could_not(tenant: Tenant) -> None:
    """Guard the guard: the lower(column) form really does scan, so the test above means
    something."""
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        await tx.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await tx.fetch(
            "EXPLAIN SELECT id FROM users WHERE lower(user_name) = lower($1)", "x@y.z"))
    assert "Seq Scan" in plan or "lower(user_name)" in plan.split("Filter:")[-1]
