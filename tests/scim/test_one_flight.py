"""One-flight reads on /scim/v2 (see tests/core/test_one_flight.py)."""

from __future__ import annotations

import asyncio

import httpx

from app.ipallow.cache import cache_for
from tests.conftest import Tenant
from tests.scim.conftest import MakeScim

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


async def test_a_scim_filter_is_one_round_trip(
        make_scim: MakeScim, tenant: Tenant, round_trips: list[str]) -> None:
    scim = await make_scim(tenant)
    await scim.create_user("flight@example.com")
    cache = cache_for(tenant.rt.db)
    for _ in range(50):  # until this process's allowlist cache holds the tenant's list
        await scim.get("/Users?count=1")
        if tenant.id in cache.entries:
            break
        await asyncio.sleep(0.05)
    round_trips.clear()
    r = await scim.get('/Users?filter=userName eq "flight@example.com"')
    assert r.status_code == 200 and r.json()["totalResults"] == 1
    assert len(round_trips) == 1, round_trips
    assert "drift_api.enter_scim_token(" in round_trips[0]
    assert round_trips[0].endswith(", true)")


async def test_a_revoked_scim_token_is_refused_on_the_very_next_read(
        client: httpx.AsyncClient, make_scim: MakeScim, tenant: Tenant) -> None:
    scim = await make_scim(tenant)
    assert (await scim.get("/Users")).status_code == 200
    r = await client.delete(f"/api/v1/settings/scim/{scim.token_id}",
                            headers=tenant.headers)
    assert r.status_code == 204, r.text
    denied = await scim.get("/Users")
    assert denied.status_code == 401
    assert denied.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


async def test_a_revoked_scim_token_is_refused_on_the_very_next_create(
        client: httpx.AsyncClient, make_scim: MakeScim, tenant: Tenant,
        round_trips: list[str]) -> None:
    """A create's INSERT rides in the round trip that enters (Tx.run): the token is checked
    first in that same script, so a revoked one writes nothing."""
    scim = await make_scim(tenant)
    await scim.create_user("before@example.com")
    r = await client.delete(f"/api/v1/settings/scim/{scim.token_id}", headers=tenant.headers)
    assert r.status_code == 204, r.text
    round_trips.clear()
    denied = await scim.post("/Users", {"schemas": [USER], "userName": "after@example.com"})
    assert denied.status_code == 401
    assert denied.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert any("scim_insert_user" in q for q in round_trips)  # it was sent, and refused
    rows = await tenant.sql("SELECT user_name FROM users WHERE user_name LIKE '%@example.com'")
    assert [r["user_name"] for r in rows] == ["before@example.com"]
    audit = await tenant.sql("SELECT count(*) FROM audit_events"
                             " WHERE action = 'user.provisioned'")
    assert audit[0][0] == 1


async def test_a_revoked_token_gets_401_not_the_handlers_error(
        client: httpx.AsyncClient, make_scim: MakeScim, tenant: Tenant) -> None:
    """A write answered before its first statement (a body the handler refuses) still has its
    token verified: a revoked token learns nothing from the body's error."""
    scim = await make_scim(tenant)
    bad = {"schemas": [USER]}  # no userName
    assert (await scim.post("/Users", bad)).status_code == 400
    r = await client.delete(f"/api/v1/settings/scim/{scim.token_id}", headers=tenant.headers)
    assert r.status_code == 204, r.text
    denied = await scim.post("/Users", bad)
    assert denied.status_code == 401, denied.text


async def test_a_duplicate_create_is_a_conflict_and_changes_nothing(
        make_scim: MakeScim, tenant: Tenant) -> None:
    """The INSERT fails inside the opening round trip: the transaction is rolled back there,
    the answer is SCIM's 409 uniqueness, and no event or audit record is written."""
    scim = await make_scim(tenant)
    first = await scim.create_user("twice@example.com")
    again = await scim.post("/Users", {"schemas": [USER], "userName": "TWICE@example.com"})
    assert again.status_code == 409, again.text
    assert again.json()["scimType"] == "uniqueness"
    rows = await tenant.sql("SELECT id FROM users WHERE lower(user_name) = 'twice@example.com'")
    assert [str(r["id"]) for r in rows] == [first["id"]]
    audit = await tenant.sql("SELECT count(*) FROM audit_events"
                             " WHERE action = 'user.provisioned'")
    events = await tenant.sql("SELECT count(*) FROM outbox_events"
                              " WHERE type = 'user.provisioned'")
    assert audit[0][0] == 1 and events[0][0] == 1
