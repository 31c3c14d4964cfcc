"""Stream tickets (app/audit/tickets.py): POST /api/v1/audit/stream/tickets, then
GET /api/v1/audit/stream?ticket=... without an Authorization header (what EventSource can do).
The browser's view: tests/browser/test_cross_origin.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.core import clock
from tests.audit.conftest import SseReader, record_events
from tests.conftest import LiveServer, Tenant, assert_problem, audit_events

STREAM = "/api/v1/audit/stream"
TICKETS = "/api/v1/audit/stream/tickets"


async def _ticket(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.post(TICKETS, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _first_events(server: LiveServer, ticket: str, n: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.url, timeout=15) as c, \
            c.stream("GET", STREAM, params={"ticket": ticket}) as r:
        assert r.status_code == 200, await r.aread()
        reader = SseReader(r)
        out = []
        async with asyncio.timeout(15):
            while len(out) < n:
                ev = await reader.next()
                assert ev is not None and ev.event == "audit", ev
                out.append(json.loads(ev.data))
        return out


async def test_a_ticket_opens_the_stream_once(live_server: LiveServer, tenant: Tenant,
                                              client: httpx.AsyncClient) -> None:
    issued = await _ticket(client, tenant.headers)
    ticket = issued["ticket"]
    assert ticket.startswith("dst_")
    left = datetime.fromisoformat(issued["expires_at"]) - clock.now()
    assert timedelta(seconds=50) < left <= timedelta(seconds=60)
    # stored hashed: the secret itself is nowhere in the table
    [row] = await tenant.sql("SELECT * FROM audit_stream_tickets WHERE ticket_hash = $1",
                             hashlib.sha256(ticket.encode()).digest())
    assert ticket.encode() not in b"".join(str(v).encode() for v in row.values())
    assert row["used_at"] is None
    [created] = await audit_events(tenant, action="audit.stream_ticket")
    assert created["resource_id"] == str(row["id"])

    [opened] = await _first_events(live_server, ticket, 1)
    assert opened["action"] == "audit.stream"
    assert opened["metadata"]["stream_ticket"] == str(row["id"])
    assert opened["actor"]["id"] == str(tenant.owner.id)  # runs as the ticket's credential

    again = await client.get(STREAM, params={"ticket": ticket})
    assert again.status_code == 401
    assert again.json()["code"] == "stream_ticket_used"
    denied = await audit_events(tenant, action="auth.denied")
    assert any(e["metadata"]["reason"] == "stream_ticket_used" for e in denied)


async def test_a_ticket_expires_after_a_minute_on_the_app_clock(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    ticket = (await _ticket(client, tenant.headers))["ticket"]
    clock.advance(timedelta(seconds=61))
    r = await client.get(STREAM, params={"ticket": ticket})
    assert r.status_code == 401
    assert r.json()["code"] == "stream_ticket_expired"
    [row] = await tenant.sql("SELECT used_at FROM audit_stream_tickets WHERE ticket_hash = $1",
                             hashlib.sha256(ticket.encode()).digest())
    assert row["used_at"] is None


async def test_unknown_and_malformed_tickets_are_refused(client: httpx.AsyncClient) -> None:
    for bad in ("dst_" + "A" * 43, "not-a-ticket", ""):
        r = await client.get(STREAM, params={"ticket": bad})
        assert r.status_code == 401, bad
        assert r.json()["code"] == "stream_ticket_invalid"


@pytest.mark.isolation
async def test_another_tenant_cannot_use_the_ticket(live_server: LiveServer, tenant: Tenant,
                                                    other_tenant: Tenant,
                                                    client: httpx.AsyncClient) -> None:
    """Presented with another tenant's (or credential's) bearer, a ticket is refused like an
    unknown one and stays unused for whoever it was issued to."""
    ticket = (await _ticket(client, tenant.headers))["ticket"]
    colleague = await tenant.add_user("admin")
    for who in (other_tenant.headers, colleague.headers):
        r = await client.get(STREAM, params={"ticket": ticket}, headers=who)
        assert r.status_code == 401
        assert r.json()["code"] == "stream_ticket_invalid"
    await record_events(other_tenant, 2, action="project.create")
    mine = await record_events(tenant, 1, action="project.create")
    # the stream starts at "now": its own audit.stream, then this tenant's events only
    async with httpx.AsyncClient(base_url=live_server.url, timeout=15) as c, \
            c.stream("GET", STREAM, params={"ticket": ticket, "action": "project.*"}) as r:
        assert r.status_code == 200
        await record_events(other_tenant, 2, action="project.update")
        later = await record_events(tenant, 1, action="project.update")
        reader = SseReader(r)
        async with asyncio.timeout(15):
            ev = await reader.next()
        assert ev is not None
        assert json.loads(ev.data)["id"] == str(later[0])
    assert mine  # recorded before the stream opened: not replayed


async def test_the_ticket_needs_an_admin_and_stays_bound_to_its_credential(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    member = await tenant.add_user("member")
    assert_problem(await client.post(TICKETS, headers=member.headers), 403, "insufficient_role")

    admin = await tenant.add_user("admin")
    ticket = (await _ticket(client, admin.headers))["ticket"]
    await tenant.sql("UPDATE api_keys SET revoked_at = now() WHERE user_id = $1", admin.id)
    assert_problem(await client.get(STREAM, params={"ticket": ticket}), 401, "credential_revoked")

    demoted = await tenant.add_user("admin")
    ticket = (await _ticket(client, demoted.headers))["ticket"]
    await tenant.sql("UPDATE users SET role = 'member' WHERE id = $1", demoted.id)
    assert_problem(await client.get(STREAM, params={"ticket": ticket}), 403, "insufficient_role")


async def test_two_processes_racing_for_one_ticket_open_one_stream(
        live_server: LiveServer, settings: Settings, tenant: Tenant,
        client: httpx.AsyncClient) -> None:
    """The ticket lives in PostgreSQL: a second server (own pool, own caches) sees it, and
    of two simultaneous redemptions on different servers exactly one opens the stream."""
    ticket = (await _ticket(client, tenant.headers))["ticket"]
    second = LiveServer(settings).start()
    try:
        async def open_on(server: LiveServer) -> tuple[int, str]:
            async with httpx.AsyncClient(base_url=server.url, timeout=15) as c, \
                    c.stream("GET", STREAM, params={"ticket": ticket}) as r:
                if r.status_code == 200:
                    return 200, ""
                return r.status_code, json.loads(await r.aread())["code"]

        results = sorted(await asyncio.gather(open_on(live_server), open_on(second)))
    finally:
        second.stop()
    assert results == [(200, ""), (401, "stream_ticket_used")]
