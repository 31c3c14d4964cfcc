"""Fixtures and helpers for the audit log tests."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from app.core.audit_record import Outcome, record
from app.core.context import Actor, RequestContext
from app.core.tx import own_tx
from tests.conftest import Tenant, User


async def record_events(t: Tenant, n: int = 1, *, action: str = "project.update",
                        actor: Actor | None = None, resource_type: str | None = None,
                        resource_id: str | uuid.UUID | None = None,
                        outcome: Outcome = "success", metadata: dict[str, Any] | None = None,
                        ip: str | None = "203.0.113.7", request_id: str | None = None
                        ) -> list[uuid.UUID]:
    """`n` events recorded through audit.record() in one tenant transaction."""
    ctx = RequestContext(actor=actor or Actor.system(), request_id=request_id or "req-test",
                         ip=ipaddress.ip_address(ip) if ip else None, user_agent="pytest")
    out = []
    async with own_tx(t.rt.db, t.id, ctx) as tx:
        for i in range(n):
            out.append(await record(tx, action, resource_type=resource_type,
                                    resource_id=resource_id if resource_id is not None
                                    else uuid.uuid4(),
                                    outcome=outcome, metadata={"i": i, **(metadata or {})}))
    return out


def user_actor(u: User) -> Actor:
    return Actor(type="api_key", id=u.id, email=u.email, credential_id=uuid.uuid4())


async def query(client: httpx.AsyncClient, who: User | Tenant, **params: Any) -> httpx.Response:
    return await client.get("/api/v1/audit", headers=who.headers,
                            params={k: v for k, v in params.items() if v is not None})


async def query_all(client: httpx.AsyncClient, who: User | Tenant, **params: Any
                    ) -> list[dict[str, Any]]:
    """Every page of a query, following the cursor."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await query(client, who, cursor=cursor, **params)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["data"]
        if not body["pagination"]["has_more"]:
            return out
        cursor = body["pagination"]["cursor"]


def ndjson(body: bytes) -> list[dict[str, Any]]:
    assert body == b"" or body.endswith(b"\n"), "NDJSON must end every line with a newline"
    return [orjson.loads(line) for line in body.split(b"\n") if line]


@dataclass
class SseEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None


@dataclass
class SseReader:
    """Parses a text/event-stream response line by line (enough of the SSE spec for tests)."""

    response: httpx.Response
    last_id: str | None = None
    comments: list[str] = field(default_factory=list)
    _lines: AsyncIterator[str] | None = None

    async def next(self) -> SseEvent | None:
        """The next dispatched event (events with data), or None when the stream ends.
        `last_id` follows every `id:` field, including id-only blocks."""
        if self._lines is None:
            self._lines = self.response.aiter_lines()
        ev = SseEvent()
        async for line in self._lines:
            if line == "":
                if ev.id is not None:
                    self.last_id = ev.id
                if ev.data:
                    return ev
                ev = SseEvent()
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                ev.event = value
            elif name == "data":
                ev.data = value if not ev.data else ev.data + "\n" + value
            elif name == "id":
                ev.id = value
        return None


@pytest.fixture
async def admin(tenant: Tenant) -> User:
    return await tenant.add_user("admin", email=f"admin@{tenant.slug}.example")
