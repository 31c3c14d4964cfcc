"""GET /api/v1/audit: filters alone and combined, envelope, cursors, errors, roles."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core import clock
from app.core.audit_record import record
from app.core.context import Actor, RequestContext
from app.core.tx import own_tx
from tests.audit.conftest import query, query_all, record_events
from tests.conftest import Tenant, User, assert_problem, audit_events

ACTIONS = ["project.create", "project.update", "project.delete", "apikey.create", "auth.login"]
OUTCOMES = ["success", "failure", "denied"]


@dataclass
class Seeded:
    id: str
    actor: Actor
    action: str
    resource_type: str
    resource_id: str
    outcome: str
    created_at: datetime


@pytest.fixture
async def varied(tenant: Tenant) -> tuple[list[Seeded], datetime]:
    """100 events: 4 actors x 5 actions x 3 outcomes x 7 resources, one minute apart."""
    actors = [Actor(type="user", id=uuid.uuid4(), email="admin@co.com"),
              Actor(type="user", id=uuid.uuid4(), email="Dev@Co.com"),
              Actor(type="api_key", id=uuid.uuid4(), email="ops@co.com",
                    credential_id=uuid.uuid4()),
              Actor.system()]
    resources = [str(uuid.uuid4()) for _ in range(7)]
    base = (clock.now() - timedelta(hours=3)).replace(microsecond=0)
    seeded: list[Seeded] = []
    async with own_tx(tenant.rt.db, tenant.id, RequestContext(request_id="seed")) as tx:
        for i in range(100):
            clock.freeze(base + timedelta(minutes=i))
            action = ACTIONS[i % 5]
            event_id = await record(tx, action, resource_id=resources[i % 7],
                                    outcome=OUTCOMES[i % 3],  # type: ignore[arg-type]
                                    actor=actors[i % 4], metadata={"i": i})
            seeded.append(Seeded(str(event_id), actors[i % 4], action, action.split(".")[0],
                                 resources[i % 7], OUTCOMES[i % 3], clock.now()))
    clock.reset()
    return seeded, base


def _matches(e: dict[str, Any], f: dict[str, Any]) -> bool:
    """The filter semantics, in Python, on the API's event JSON."""
    created = datetime.fromisoformat(e["created_at"])
    if "actor" in f:
        a = f["actor"]
        if "@" in a:
            if (e["actor"]["email"] or "").lower() != a.lower():
                return False
        elif e["actor"]["id"] != a:
            return False
    if "action" in f:
        a = f["action"]
        if a.endswith("*"):
            if not e["action"].startswith(a[:-1]):
                return False
        elif "." not in a:  # a bare verb
            if e["action"].rsplit(".", 1)[-1] != a:
                return False
        elif e["action"] != a:
            return False
    if "resource_type" in f and e["resource"]["type"] != f["resource_type"]:
        return False
    if "resource_id" in f and e["resource"]["id"] != f["resource_id"]:
        return False
    if "outcome" in f and e["outcome"] != f["outcome"]:
        return False
    if "after" in f and created < datetime.fromisoformat(f["after"]):
        return False
    return not ("before" in f and created >= datetime.fromisoformat(f["before"]))


def _seeded_match(s: Seeded, f: dict[str, Any]) -> bool:
    e = {"actor": {"id": str(s.actor.id) if s.actor.id else None, "email": s.actor.email},
         "action": s.action, "resource": {"type": s.resource_type, "id": s.resource_id},
         "outcome": s.outcome, "created_at": s.created_at.isoformat()}
    return _matches(e, f)


async def test_the_headline_filter(client: httpx.AsyncClient, tenant: Tenant,
                                   varied: tuple[list[Seeded], datetime]) -> None:
    seeded, _ = varied
    got = await query_all(client, tenant, actor="admin@co.com", action="project.delete",
                          limit=200)
    expected = [s.id for s in seeded
                if s.actor.email == "admin@co.com" and s.action == "project.delete"]
    assert expected and [e["id"] for e in got] == expected[::-1]  # newest first
    assert all(e["actor"]["email"] == "admin@co.com" and e["action"] == "project.delete"
               for e in got)


async def test_every_filter_alone_and_combined(client: httpx.AsyncClient, tenant: Tenant,
                                               varied: tuple[list[Seeded], datetime]) -> None:
    seeded, base = varied
    admin_id = str(seeded[0].actor.id)
    singles: dict[str, list[Any]] = {
        "actor": ["admin@co.com", "dev@co.com", "OPS@co.com", admin_id],
        "action": ["project.delete", "project.*", "auth.*", "create", "apikey.create"],
        "resource_type": ["project", "auth"],
        "resource_id": [seeded[3].resource_id],
        "outcome": OUTCOMES,
        "after": [(base + timedelta(minutes=30)).isoformat()],
        "before": [(base + timedelta(minutes=60)).isoformat()],
    }
    cases: list[dict[str, Any]] = [{k: v} for k, vs in singles.items() for v in vs]
    # every pair of filters, and a few with more
    for (k1, v1s), (k2, v2s) in itertools.combinations(singles.items(), 2):
        cases.append({k1: v1s[0], k2: v2s[-1]})
    cases += [
        {"actor": "admin@co.com", "action": "project.*", "outcome": "success",
         "after": (base + timedelta(minutes=10)).isoformat(),
         "before": (base + timedelta(minutes=90)).isoformat()},
        {"actor": admin_id, "resource_type": "project", "resource_id": seeded[0].resource_id,
         "outcome": "success"},
    ]
    for f in cases:
        got = await query_all(client, tenant, limit=200, **f)
        expected = {s.id for s in seeded if _seeded_match(s, f)}
        got_ids = {e["id"] for e in got}
        assert expected <= got_ids, f"{f}: missing {expected - got_ids}"
        assert all(_matches(e, f) for e in got), f"{f}: returned a non-matching event"
        assert len(got_ids) == len(got), f"{f}: an event came twice"
        assert [e["seq"] for e in got] == sorted((e["seq"] for e in got), reverse=True)
    # each single filter really narrows: sanity check on the fixture itself
    assert 0 < sum(_seeded_match(s, {"action": "project.*"}) for s in seeded) < 100


async def test_event_shape_and_envelope(client: httpx.AsyncClient, tenant: Tenant,
                                        admin: User) -> None:
    r = await client.post("/api/v1/projects", headers={**admin.headers, "User-Agent": "ua/1",
                                                       "X-Request-ID": "req-shape-1"},
                          json={"name": "Shape"})
    assert r.status_code == 201
    page = await query(client, tenant, action="project.create")
    assert page.status_code == 200 and page.headers["content-type"] == "application/json"
    body = page.json()
    assert set(body) == {"data", "pagination"}
    assert body["pagination"] == {"cursor": None, "has_more": False, "total": 1,
                                  "total_capped": False}
    [e] = body["data"]
    assert set(e) >= {"id", "created_at", "actor", "action", "resource", "outcome", "ip",
                      "user_agent", "request_id", "metadata"}
    assert e["actor"] == {"type": "api_key", "id": str(admin.id), "email": admin.email}
    assert e["action"] == "project.create" and e["outcome"] == "success"
    assert e["resource"] == {"type": "project", "id": r.json()["id"]}
    assert e["ip"] == "127.0.0.1" and e["user_agent"] == "ua/1"
    assert e["request_id"] == "req-shape-1" and e["metadata"]["name"] == "Shape"
    assert e["created_at"].endswith("Z") and datetime.fromisoformat(e["created_at"]).tzinfo
    uuid.UUID(e["id"])
    assert len(e["hash"]) == 64 and e["seq"] >= 1


async def test_paging_default_limit_link_and_total(client: httpx.AsyncClient,
                                                   tenant: Tenant) -> None:
    await record_events(tenant, 120, action="project.update")
    r = await query(client, tenant, action="project.update")
    body = r.json()
    assert len(body["data"]) == 50 and body["pagination"]["has_more"] is True
    assert body["pagination"]["total"] == 120
    link = r.headers["link"]
    assert link.startswith("</api/v1/audit?") and link.endswith('>; rel="next"')
    assert "action=project.update" in link and f"cursor={body['pagination']['cursor']}" in link
    nxt = await client.get(link[1:link.index(">")], headers=tenant.headers)
    assert nxt.status_code == 200
    assert nxt.json()["data"][0]["seq"] == body["data"][-1]["seq"] - 1
    last = await query(client, tenant, action="project.update", limit=200)
    assert len(last.json()["data"]) == 120 and "link" not in last.headers
    # unfiltered, the total is exact (from the chain head): every event, reads included
    [(n,)] = await tenant.sql("SELECT count(*) FROM audit_events")
    assert (await query(client, tenant, limit=1)).json()["pagination"]["total"] == n


async def test_oldest_first_and_polling_cursor(client: httpx.AsyncClient,
                                               tenant: Tenant) -> None:
    first = await record_events(tenant, 3, action="project.create")
    r = await query(client, tenant, action="project.create", order="asc")
    body = r.json()
    assert [e["id"] for e in body["data"]] == [str(i) for i in first]
    assert body["pagination"]["has_more"] is False and body["pagination"]["cursor"]
    # nothing new: an empty page with a cursor to keep polling with
    again = (await query(client, tenant, action="project.create",
                         cursor=body["pagination"]["cursor"])).json()
    assert again["data"] == [] and again["pagination"]["cursor"]
    later = await record_events(tenant, 2, action="project.create")
    polled = (await query(client, tenant, action="project.create",
                          cursor=again["pagination"]["cursor"])).json()
    assert [e["id"] for e in polled["data"]] == [str(i) for i in later]
    # a cursor keeps its direction
    bad = await query(client, tenant, cursor=again["pagination"]["cursor"], order="desc")
    assert bad.status_code == 400 and bad.json()["code"] == "cursor_order_mismatch"


async def test_paging_while_events_arrive_sees_each_original_once(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    originals = {str(i) for i in await record_events(tenant, 1000, action="project.update",
                                                     metadata={"batch": "original"})}
    for order in ("desc", "asc"):
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            r = await query(client, tenant, action="project.update", order=order, limit=37,
                            cursor=cursor)
            assert r.status_code == 200, r.text
            body = r.json()
            seen += [e["id"] for e in body["data"]]
            pages += 1
            # 200 new events arrive while paging (10 after each of the first 20 pages)
            if pages <= 20:
                await record_events(tenant, 10, action="project.update",
                                    metadata={"batch": f"new-{order}-{pages}"})
            if not body["pagination"]["has_more"]:
                break
            cursor = body["pagination"]["cursor"]
        counted = [i for i in seen if i in originals]
        assert len(counted) == 1000 and set(counted) == originals, order
        assert len(seen) == len(set(seen)), f"{order}: an event was repeated"


@pytest.mark.parametrize(("params", "code"), [
    ({"limit": 201}, "limit_out_of_range"),
    ({"limit": 0}, "limit_out_of_range"),
    ({"after": "yesterday"}, "invalid_timestamp"),
    ({"before": "2026-13-01"}, "invalid_timestamp"),
    ({"after": "2026-02-01T00:00:00Z", "before": "2026-01-01T00:00:00Z"},
     "invalid_time_range"),
    ({"cursor": "not-a-cursor"}, "invalid_cursor"),
    ({"cursor": "eyJ2IjoxLCJwIjotMSwiZCI6ImEifQ"}, "invalid_cursor"),  # p = -1
    ({"action": "DROP TABLE"}, "invalid_action_filter"),
    ({"action": "project.*.x"}, "invalid_action_filter"),
    ({"outcome": "maybe"}, "invalid_outcome"),
    ({"actor": "not an email"}, "invalid_actor"),
    ({"order": "sideways"}, "invalid_order"),
])
async def test_bad_input_is_a_400_with_a_code(client: httpx.AsyncClient, tenant: Tenant,
                                              params: dict[str, Any], code: str) -> None:
    r = await query(client, tenant, **params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert body["code"] == code and body["detail"]


async def test_time_filters_accept_dates_and_offsets(client: httpx.AsyncClient,
                                                     tenant: Tenant) -> None:
    day = (clock.now() - timedelta(days=1)).date()
    nxt = day + timedelta(days=1)
    clock.freeze(datetime(day.year, day.month, day.day, 23, 30, tzinfo=UTC))
    [late] = await record_events(tenant, 1, action="auth.login")
    clock.reset()
    # 23:30Z is 00:30 the next day at +01:00
    for after, before, hit in [(str(day), str(nxt), True),
                               (f"{nxt}T00:00:00+01:00", f"{nxt}T01:00:00+01:00", True),
                               (f"{nxt}T00:31:00+01:00", None, False),
                               (f"{day}T23:30:00", f"{day}T23:30:00.000001", True)]:
        got = await query_all(client, tenant, action="auth.login", after=after, before=before)
        assert ([e["id"] for e in got] == [str(late)]) is hit, (after, before)


async def test_reading_is_audited_once_per_request(client: httpx.AsyncClient, tenant: Tenant,
                                                   admin: User) -> None:
    await record_events(tenant, 5)
    r = await client.get("/api/v1/audit", headers={**admin.headers, "X-Request-ID": "read-1"},
                         params={"action": "project.*", "limit": 2})
    assert r.status_code == 200
    [event] = await audit_events(tenant, request_id="read-1")
    assert event["action"] == "audit.query" and event["actor_id"] == admin.id
    assert event["metadata"]["filters"] == {"action": "project.*"}
    assert event["metadata"]["returned"] == 2


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_members_and_viewers_get_403(client: httpx.AsyncClient, tenant: Tenant,
                                           role: str) -> None:
    user = await tenant.add_user(role)
    for path in ("/api/v1/audit", "/api/v1/audit/export", "/api/v1/audit/verify",
                 "/api/v1/audit/stream", "/api/v1/settings/audit-retention"):
        r = await client.get(path, headers=user.headers)
        assert r.status_code == 403 and r.json()["code"] == "insufficient_role", path


async def test_no_credentials_get_401(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/audit", "/api/v1/audit/export", "/api/v1/audit/stream"):
        assert_problem(await client.get(path), 401, "missing_credentials")


async def test_total_is_exact_up_to_the_cap_then_flagged(client: httpx.AsyncClient,
                                                         tenant: Tenant) -> None:
    """`total` counts matches exactly up to 1,000; beyond that it says 1,000 and
    `total_capped` (a UI shows "1,000+"); the unfiltered total stays exact."""
    await record_events(tenant, 999, action="team.update", outcome="denied")
    body = (await query(client, tenant, action="team.update", limit=10)).json()
    assert body["pagination"]["total"] == 999 and body["pagination"]["total_capped"] is False
    await record_events(tenant, 2, action="team.update", outcome="denied")
    body = (await query(client, tenant, outcome="denied", action="team.update")).json()
    assert body["pagination"]["total"] == 1000 and body["pagination"]["total_capped"] is True
    assert len(body["data"]) == 50 and body["pagination"]["has_more"] is True
    # outcome alone and outcome + action (each served by its own partial index) agree
    denied = await query_all(client, tenant, outcome="denied", limit=200)
    assert len(denied) == 1001
    assert {e["action"] for e in denied} == {"team.update"}
    body = (await query(client, tenant)).json()
    assert body["pagination"]["total_capped"] is False
    assert body["pagination"]["total"] >= 1001
