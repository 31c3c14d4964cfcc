"""Append-only writes (audit events, outbox rows) ride in the same round trip as COMMIT,
inlined as literals: every value survives exactly, nothing is written when the request
fails, and an audited read writes its event in one script."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from app.core.tx import inline, literal, own_tx
from app.core.tx import literals as tx_module
from tests.conftest import Tenant

HOSTILE = [
    "plain", "it's", "back\\slash", "$$", "$v0$", "$v1234567890ab$", "'; DROP TABLE users; --",
    "ünïcødé ✓ 漢字", "line\nbreak\ttab", "\\x00 is not a NUL", "\"quoted\"", "",
]


@pytest.mark.parametrize("text", HOSTILE)
async def test_a_text_literal_is_the_text(tenant: Tenant, text: str) -> None:
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        assert await tx.fetchval(inline("SELECT $1::text", [text])) == text
        doc = {"k": text, text: [text, 1, None]}
        assert await tx.fetchval(inline("SELECT $1::jsonb", [doc])) == doc


async def test_a_text_holding_the_dollar_quote_tag_gets_another(tenant: Tenant) -> None:
    """Texts are dollar-quoted with the process's tag; one that contains the tag must be
    quoted with a different one, or it could end its own literal."""
    text = f"x{tx_module._TAG}; DROP TABLE users; --"
    assert not literal(text).startswith(tx_module._TAG)
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        assert await tx.fetchval(inline("SELECT $1::text", [text])) == text


def test_values_that_cannot_be_literals_are_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        literal("a\x00b")
    with pytest.raises(ValueError, match="naive"):
        literal(datetime(2030, 1, 1))
    assert literal(None) == "NULL"
    assert literal(True) == "true"
    when = datetime(2030, 1, 1, tzinfo=UTC)
    assert literal(when) == "'2030-01-01T00:00:00+00:00'::timestamptz"
    u = uuid.uuid4()
    assert literal([u]) == f"ARRAY['{u}'::uuid]::uuid[]"
    assert literal(["a"]).endswith("]::text[]")
    with pytest.raises(ValueError, match="no literal"):
        literal([])  # an empty array has no type to write


async def test_a_refused_write_leaves_no_audit_event_or_outbox_row(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    """The project insert succeeds but the request ends 409 (duplicate slug on the second):
    the deferred audit event and outbox row of the failed request are never sent."""
    assert (await client.post("/api/v1/projects", headers=tenant.headers,
                              json={"name": "once", "slug": "once"})).status_code == 201
    r = await client.post("/api/v1/projects", headers=tenant.headers,
                          json={"name": "twice", "slug": "once"})
    assert r.status_code == 409 and r.json()["code"]
    creates = await tenant.sql("SELECT count(*) FROM audit_events WHERE action = 'project.create'")
    events = await tenant.sql("SELECT count(*) FROM outbox_events WHERE type = 'project.created'")
    assert creates[0][0] == 1 and events[0][0] == 1


async def test_a_scim_create_sends_its_events_with_commit(
        client: httpx.AsyncClient, tenant: Tenant, round_trips: list[str]) -> None:
    token = (await client.post("/api/v1/settings/scim", headers=tenant.headers,
                               json={"name": "idp"})).json()["token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "deferred@example.com"}
    assert (await client.post("/scim/v2/Users", headers=headers, json=body)).status_code == 201
    round_trips.clear()
    body["userName"] = "deferred2@example.com"
    assert (await client.post("/scim/v2/Users", headers=headers, json=body)).status_code == 201
    own = [q for q in round_trips if "ip_allowlist_entries" not in q]
    # two round trips: the insert rides in the one that opens the transaction and enters...
    assert len(own) == 2, own
    assert own[0].startswith("BEGIN; SELECT drift_api.enter_scim_token(")
    assert "; SELECT 1 FROM public.scim_insert_user(" in own[0]
    # ... with its three guards on (seat limit, open invitation to the person, required
    # custom attribute: the insert itself checks, no statement of their own)
    guards = re.search(r", (true|false), ARRAY\[(.*)\]::text\[\], (true|false)\) AS r\(ok\)"
                       r" WHERE ok$", own[0])
    assert guards is not None, own[0]
    assert guards[1] == guards[3] == "true" and "deferred2@example.com" in guards[2]
    # ... and the event and the audit record go with COMMIT
    assert "INSERT INTO audit_events" in own[-1] and own[-1].endswith("; COMMIT")
    assert "INSERT INTO audit_events" not in own[0]
    rows = await tenant.sql("SELECT count(*) FROM audit_events WHERE action = 'user.provisioned'")
    assert rows[0][0] == 2
    users = await tenant.sql("SELECT user_name, role, active FROM users"
                             " WHERE user_name LIKE 'deferred%' ORDER BY user_name")
    assert [tuple(u) for u in users] == [("deferred2@example.com", "member", True),
                                         ("deferred@example.com", "member", True)]


async def test_audit_inserts_go_last_so_writers_of_a_tenant_never_deadlock(
        tenant: Tenant) -> None:
    """An event's fan-out takes the tenant's webhook sequence lock, an audit insert the tenant's
    chain row; a transaction that records before it emits defers both, and the audit insert
    still goes last, so concurrent writers that call them in either order all commit."""
    from app.core.audit_record import record
    from app.core.outbox import emit

    async with own_tx(tenant.rt.db, tenant.id) as tx:  # an endpoint and its counter
        ep = await tx.fetchval("INSERT INTO webhook_endpoints (tenant_id, url, events) VALUES"
                               " ($1, 'https://hooks.example.com/x', '{project.*}') RETURNING id",
                               tenant.id)
        await tx.execute("INSERT INTO webhook_endpoint_sequences (tenant_id, endpoint_id)"
                         " VALUES ($1, $2)", tenant.id, ep)

    async def write(i: int) -> None:
        async with own_tx(tenant.rt.db, tenant.id) as tx:
            data = {"project_id": str(uuid.uuid4()), "name": f"p{i}", "slug": f"p{i}"}
            if i % 2:
                await record(tx, "project.create", resource_type="project")
                await emit(tx, "project.created", data)
            else:
                await emit(tx, "project.created", data)
                await record(tx, "project.create", resource_type="project")
            assert tx.deferred is not None and "audit_events" in tx.deferred[-1]

    import asyncio
    await asyncio.gather(*(write(i) for i in range(40)))
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        assert await tx.fetchval("SELECT count(*) FROM webhook_deliveries") == 40
        seqs = [r["seq"] for r in await tx.fetch("SELECT seq FROM webhook_deliveries"
                                                   " ORDER BY seq")]
        assert seqs == list(range(1, 41))
        assert await tx.fetchval(
            "SELECT count(*) FROM audit_events WHERE action = 'project.create'") == 40
