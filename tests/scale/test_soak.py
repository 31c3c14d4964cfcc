"""Many processes, one database, faults (docs/scaling.md, "Many processes").

The `cluster` fixture (tests/scale/conftest.py) runs 3 `drift-cloud serve --no-worker` and 2
`drift-cloud worker` processes on the test database, each API on its own loopback port. The
soak drives a fixed number of operations (SCIM creates and patches, project creates and
updates, invitations, audit reads) round-robin over the three APIs from a few concurrent
clients while a real webhook receiver records every delivery; after a third of the operations
it SIGKILLs one API and one worker and starts them again with the same port and settings.
Nothing here measures time: the waits (readiness, the delivery queue draining) poll with
generous upper bounds that fail with a message saying what was still missing.

The other tests prove that the state that must be shared lives in PostgreSQL, not in a process:
an Idempotency-Key replayed on another API, a stream ticket redeemed on another API and
refused on a third, a tenant's API budget enforced over the three APIs combined.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import psutil
import pytest

from app.core.events import EVENT_TYPES
from tests.audit.conftest import SseReader
from tests.conftest import Tenant, bearer
from tests.scale.conftest import SOAK_API_RATE_LIMIT, SOAK_RATE_WINDOW, Cluster, Process
from tests.webhooks.conftest import Hook, Received, Receiver, Reply

pytestmark = pytest.mark.slow

CLIENTS = 4
OPS_PER_CLIENT = 72
KILL_AFTER = CLIENTS * OPS_PER_CLIENT // 3  # operations done before the faults
OPS = ("scim_create", "project_create", "scim_patch", "invitation", "project_update",
       "audit_read")
HOLD_FROM, HOLD = 10, 2.0  # the receiver answers deliveries after the 10th HOLD s late
DRAIN_TIMEOUT = 300.0  # a worker killed mid-send holds its claims for the lease (30 s here)
SCIM_JSON = "application/scim+json"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Tally:
    """What the clients saw: final statuses per operation, connection errors per API (counted
    apart: a killed process cannot answer), and every 5xx or unexpected answer."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    connection_errors: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    done: int = 0


class Api:
    """Requests to one of the cluster's APIs, moving on to the next API after a connection
    error (what a load balancer does), with the same request (and Idempotency-Key)."""

    def __init__(self, cluster: Cluster, client: httpx.AsyncClient, tally: Tally) -> None:
        self.apis = cluster.apis
        self.client = client
        self.tally = tally

    async def send(self, start: int, method: str, path: str, *, headers: dict[str, str],
                   body: Any = None, content_type: str = "application/json"
                   ) -> tuple[httpx.Response, bool, Process]:
        """(response, whether it was resent after a connection error, the API that answered)."""
        h = dict(headers)
        content = None
        if body is not None:
            h["Content-Type"] = content_type
            content = orjson.dumps(body)
        resent = False
        for attempt in range(60):
            api = self.apis[(start + attempt) % len(self.apis)]
            try:
                r = await self.client.request(method, api.url + path, headers=h,
                                              content=content)
            except httpx.TransportError:
                self.tally.connection_errors[api.name] += 1
                resent = True
                await asyncio.sleep(0.1)  # back-off before the next API, not a measurement
                continue
            if r.status_code == 409 and resent and _code(r) == "idempotency_key_in_flight":
                # the killed process's transaction still holds the key: the documented answer
                # is to retry after Retry-After
                await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                continue
            if r.status_code >= 500:
                self.tally.server_errors.append(f"{api.name} {method} {path} -> "
                                                f"{r.status_code} {r.text[:300]}")
            return r, resent, api
        raise AssertionError(f"{method} {path}: no API answered after 60 tries")


def _code(r: httpx.Response) -> str | None:
    try:
        body = r.json()
    except ValueError:
        return None
    return body.get("code") or body.get("scimType") if isinstance(body, dict) else None


@dataclass
class SoakClient:
    """One concurrent client of the soak; keeps what it created."""

    n: int
    api: Api
    tenant: Tenant
    scim_headers: dict[str, str]
    users: dict[str, str] = field(default_factory=dict)        # userName -> id
    projects: dict[str, str] = field(default_factory=dict)     # name -> id
    invitations: list[str] = field(default_factory=list)

    def expect(self, op: str, r: httpx.Response, *allowed: int) -> None:
        self.api.tally.statuses[(op, r.status_code)] += 1
        if r.status_code not in allowed:
            self.api.tally.unexpected.append(f"{op}: {r.status_code} {r.text[:300]}")

    async def run(self, ops: int, fault: asyncio.Event) -> None:
        for i in range(ops):
            await self.step(i)
            self.api.tally.done += 1
            if self.api.tally.done >= KILL_AFTER:
                fault.set()

    async def step(self, i: int) -> None:
        # round-robin over the three APIs, each kind of operation visiting each API in turn
        start = self.n + i + i // len(OPS)
        op = OPS[(self.n + i) % len(OPS)]
        if (op == "scim_patch" and not self.users) or (op == "project_update"
                                                       and not self.projects):
            op = {"scim_patch": "scim_create", "project_update": "project_create"}[op]
        await getattr(self, op)(start, i)

    async def scim_create(self, start: int, i: int) -> None:
        user_name = f"soak-{self.n}-{i}@{self.tenant.slug}.example"
        body = {"schemas": [USER_URN], "userName": user_name, "active": True,
                "name": {"givenName": "Soak", "familyName": f"C{self.n}N{i}"},
                "emails": [{"value": user_name, "primary": True}]}
        r, resent, api = await self.api.send(start, "POST", "/scim/v2/Users",
                                              headers=self.scim_headers, body=body,
                                              content_type=SCIM_JSON)
        if r.status_code == 409 and resent:
            # the first attempt committed before its process died: the retry is told the
            # userName is taken (one user, not two), and finds the user by it
            self.expect("scim_create_retried", r, 409)
            assert _code(r) == "uniqueness", r.text
            found = await self.api.client.get(api.url + "/scim/v2/Users",
                                              headers=self.scim_headers,
                                              params={"filter": f'userName eq "{user_name}"'})
            [user] = found.json()["Resources"]
            self.users[user_name] = user["id"]
            return
        self.expect("scim_create", r, 201)
        if r.status_code == 201:
            self.users[user_name] = r.json()["id"]

    async def scim_patch(self, start: int, i: int) -> None:
        user_id = list(self.users.values())[i % len(self.users)]
        body = {"schemas": [PATCH_URN], "Operations": [
            {"op": "replace", "path": "displayName", "value": f"Soak {self.n} rev {i}"}]}
        r, _, _ = await self.api.send(start, "PATCH", f"/scim/v2/Users/{user_id}",
                                      headers=self.scim_headers, body=body,
                                      content_type=SCIM_JSON)
        self.expect("scim_patch", r, 200, 204)

    async def project_create(self, start: int, i: int) -> None:
        name = f"Soak {self.n}-{i}"
        headers = {**self.tenant.headers, "Idempotency-Key": str(uuid.uuid4())}
        r, _, _ = await self.api.send(start, "POST", "/api/v1/projects", headers=headers,
                                      body={"name": name})
        self.expect("project_create", r, 201)
        if r.status_code == 201:
            self.projects[name] = r.json()["id"]

    async def project_update(self, start: int, i: int) -> None:
        project = list(self.projects.values())[i % len(self.projects)]
        r, _, _ = await self.api.send(start, "PATCH", f"/api/v1/projects/{project}",
                                      headers=self.tenant.headers,
                                      body={"description": f"revision {i}"})
        self.expect("project_update", r, 200)

    async def invitation(self, start: int, i: int) -> None:
        email = f"invitee-{self.n}-{i}@{self.tenant.slug}.example"
        headers = {**self.tenant.headers, "Idempotency-Key": str(uuid.uuid4())}
        r, _, _ = await self.api.send(start, "POST", "/api/v1/invitations", headers=headers,
                                      body={"email": email, "role": "member"})
        self.expect("invitation", r, 201)
        if r.status_code == 201:
            self.invitations.append(email)

    async def audit_read(self, start: int, _i: int) -> None:
        r, _, _ = await self.api.send(start, "GET", "/api/v1/audit?limit=20",
                                      headers=self.tenant.headers)
        self.expect("audit_read", r, 200)


def held_by(worker: Process, hook: Hook, port: int) -> Received | None:
    """A request the receiver is still holding (received less than half its delay ago) that
    came over one of `worker`'s connections, if any."""
    assert worker.proc is not None
    ports = {c.laddr.port for c in psutil.Process(worker.proc.pid).net_connections("tcp")
             if c.raddr and c.raddr.port == port}
    now = time.monotonic()
    for got in list(hook.requests)[HOLD_FROM:]:
        if now - got.at < HOLD / 2 and got.peer is not None and got.peer[1] in ports:
            return got
    return None


async def crash_and_restart(fault: asyncio.Event, api: Process, workers: list[Process],
                            hook: Hook, receiver: Receiver) -> tuple[Process, Received]:
    """SIGKILL one API and one worker mid-run, then start them again (same port, same
    settings) and wait until they are ready. The worker killed is one the receiver is holding
    a delivery from (so that attempt never gets its answer); returns it and that request."""
    await fault.wait()
    deadline = time.monotonic() + 120
    while True:
        held = [(w, got) for w in workers if (got := held_by(w, hook, receiver.port))]
        if held:
            break
        assert time.monotonic() < deadline, "no worker had a delivery in flight"
        await asyncio.sleep(0.02)
    worker, in_flight = held[0]
    worker.kill()
    api.kill()
    assert api.proc is not None and api.proc.returncode == -9
    assert worker.proc is not None and worker.proc.returncode == -9
    api.start()
    worker.start()
    await asyncio.gather(api.wait_ready(), worker.wait_ready())
    return worker, in_flight


async def wait_drained(tenant: Tenant, hook: Hook, before: set[str]) -> list[Any]:
    """Poll the database until every delivery of the tenant is delivered and the receiver has
    seen every event; fail with what is still missing after DRAIN_TIMEOUT."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        events = [e for e in await tenant.sql("SELECT id, type FROM outbox_events")
                  if str(e["id"]) not in before]
        states = await tenant.sql("SELECT status, count(*) AS n FROM webhook_deliveries "
                                  "GROUP BY status")
        by_status = {r["status"]: r["n"] for r in states}
        received = {r.json()["id"] for r in list(hook.requests)}
        missing = [e for e in events if str(e["id"]) not in received]
        if not missing and set(by_status) <= {"delivered"}:
            return events
        if time.monotonic() > deadline:
            raise AssertionError(
                f"delivery queue not drained within {DRAIN_TIMEOUT}s: deliveries by status "
                f"{by_status}, {len(missing)} of {len(events)} events never reached the "
                f"receiver (first: {[(str(e['id']), e['type']) for e in missing[:5]]})")
        await asyncio.sleep(0.5)


async def test_soak_with_a_killed_api_and_a_killed_worker(
        cluster: Cluster, make_tenant: Any, receiver: Receiver) -> None:
    tenant: Tenant = await make_tenant()
    # after the first few, every delivery is answered only after HOLD seconds, so both
    # workers always have sends in flight while events flow
    hook = receiver.hook(*[Reply(200, b"ok")] * HOLD_FROM, Reply(200, b"ok", delay=HOLD))
    # events emitted before the endpoint existed (the tenant's creation) go to no endpoint
    before = {str(e["id"]) for e in await tenant.sql("SELECT id FROM outbox_events")}
    async with httpx.AsyncClient(timeout=60) as http:
        api1 = cluster.apis[0].url
        r = await http.post(api1 + "/api/v1/webhooks", headers=tenant.headers,
                            json={"url": hook.url, "events": sorted(EVENT_TYPES)})
        assert r.status_code == 201, r.text
        r = await http.post(api1 + "/api/v1/settings/scim", headers=tenant.headers,
                            json={"name": "Soak IdP"})
        assert r.status_code == 201, r.text
        scim_headers = {**bearer(r.json()["token"]), "Accept": SCIM_JSON}

        tally = Tally()
        api = Api(cluster, http, tally)
        clients = [SoakClient(n, api, tenant, scim_headers) for n in range(CLIENTS)]
        fault = asyncio.Event()
        killed_api = cluster.apis[1]
        (killed_worker, in_flight), *_ = await asyncio.gather(
            crash_and_restart(fault, killed_api, cluster.workers, hook, receiver),
            *(c.run(OPS_PER_CLIENT, fault) for c in clients))
        # one more round after the restart: every operation on every API, the restarted
        # one included
        for c in clients[:1]:
            for i in range(OPS_PER_CLIENT, OPS_PER_CLIENT + 3 * len(OPS)):
                await c.step(i)

        # no 5xx anywhere; connection errors only on the killed API
        assert tally.server_errors == []
        assert tally.unexpected == [], tally.unexpected
        assert set(tally.connection_errors) <= {killed_api.name}, tally.connection_errors
        assert tally.connection_errors[killed_api.name] >= 1  # the kill was felt
        assert tally.done == CLIENTS * OPS_PER_CLIENT
        assert killed_api.starts == killed_worker.starts == 2  # both came back

        # every emitted event delivered at least once; no attempt delivered twice
        events = await wait_drained(tenant, hook, before)
        got = list(hook.requests)
        attempts = Counter((g.headers["webhook-id"], g.headers["x-drift-attempt"])
                           for g in got)
        assert [a for a, n in attempts.items() if n > 1] == []
        assert all(g.headers["webhook-id"] == g.json()["id"] for g in got)
        # the send the killed worker never heard back from came again, as a later attempt,
        # once its lease ran out
        again = [int(g.headers["x-drift-attempt"]) for g in got
                 if g.headers["webhook-id"] == in_flight.headers["webhook-id"]]
        assert max(again) > int(in_flight.headers["x-drift-attempt"]), again
        assert {str(e["id"]) for e in events} == {g.json()["id"] for g in got}
        types = Counter(e["type"] for e in events)
        assert types["project.created"] == sum(len(c.projects) for c in clients)
        assert types["user.provisioned"] == sum(len(c.users) for c in clients)
        assert types["invitation.created"] == sum(len(c.invitations) for c in clients)

        # one resource per create, whatever API or retry it took
        users = await tenant.sql("SELECT lower(user_name) AS u, count(*) AS n FROM users "
                                 "GROUP BY 1")
        assert [u["u"] for u in users if u["n"] > 1] == []
        soak_users = {u["u"] for u in users if u["u"].startswith("soak-")}
        assert soak_users == {name for c in clients for name in c.users}
        projects = await tenant.sql("SELECT name FROM projects WHERE name LIKE 'Soak %'")
        assert sorted(p["name"] for p in projects) == sorted(n for c in clients
                                                             for n in c.projects)
        invited = await tenant.sql("SELECT email FROM invitations")
        assert sorted(i["email"] for i in invited) == sorted(e for c in clients
                                                             for e in c.invitations)

        # the audit chain verifies, asked of every API
        for p in cluster.apis:
            r = await http.get(p.url + "/api/v1/audit/verify", headers=tenant.headers)
            assert r.status_code == 200, r.text
            assert r.json()["valid"] is True, r.json()
            assert r.json()["checked"] >= tally.done


async def test_an_idempotency_key_is_replayed_by_another_api(cluster: Cluster,
                                                             make_tenant: Any) -> None:
    tenant: Tenant = await make_tenant()
    headers = {**tenant.headers, "Idempotency-Key": f"soak-{uuid.uuid4()}"}
    a1, a2, a3 = (p.url for p in cluster.apis)
    async with httpx.AsyncClient(timeout=60) as http:
        first = await http.post(a1 + "/api/v1/projects", headers=headers,
                                json={"name": "Once"})
        assert first.status_code == 201, first.text
        again = await http.post(a2 + "/api/v1/projects", headers=headers,
                                json={"name": "Once"})
        assert again.status_code == 201, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert again.headers["location"] == first.headers["location"]
        other = await http.post(a3 + "/api/v1/projects", headers=headers,
                                json={"name": "Twice"})
        assert other.status_code == 422, other.text
        assert other.json()["code"] == "idempotency_key_reused"
    rows = await tenant.sql("SELECT id FROM projects")
    assert [str(r["id"]) for r in rows] == [first.json()["id"]]


async def test_a_stream_ticket_minted_on_one_api_opens_once_on_another(
        cluster: Cluster, make_tenant: Any) -> None:
    tenant: Tenant = await make_tenant()
    a1, a2, a3 = (p.url for p in cluster.apis)
    async with httpx.AsyncClient(timeout=60) as http:
        issued = await http.post(a1 + "/api/v1/audit/stream/tickets", headers=tenant.headers)
        assert issued.status_code == 201, issued.text
        ticket = issued.json()["ticket"]
        async with http.stream("GET", a2 + "/api/v1/audit/stream",
                               params={"ticket": ticket}) as r:
            assert r.status_code == 200, await r.aread()
            async with asyncio.timeout(60):
                opened = await SseReader(r).next()
            assert opened is not None and opened.event == "audit"
            assert json.loads(opened.data)["action"] == "audit.stream"
        refused = await http.get(a3 + "/api/v1/audit/stream", params={"ticket": ticket})
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == "stream_ticket_used"


async def _burst(cluster: Cluster, tenant: Tenant, requests: int
                 ) -> tuple[list[httpx.Response], list[str], bool]:
    """`requests` reads round-robin over the APIs; whether they all fell in one window."""
    out: list[httpx.Response] = []
    names: list[str] = []
    window = math.floor(time.time() / SOAK_RATE_WINDOW)
    async with httpx.AsyncClient(timeout=60) as http:
        for i in range(requests):
            api = cluster.apis[i % len(cluster.apis)]
            out.append(await http.get(api.url + "/api/v1/projects", headers=tenant.headers))
            names.append(api.name)
    return out, names, window == math.floor(time.time() / SOAK_RATE_WINDOW)


async def test_a_tenant_budget_holds_across_the_three_apis(cluster: Cluster,
                                                           make_tenant: Any) -> None:
    for _ in range(3):  # a burst that straddles two budget windows is run again
        tenant: Tenant = await make_tenant(plan="free")
        answers, names, one_window = await _burst(cluster, tenant, 2 * SOAK_API_RATE_LIMIT)
        if one_window:
            break
    assert one_window
    assert [r.status_code for r in answers if r.status_code not in (200, 429)] == []
    admitted = sum(r.status_code == 200 for r in answers)
    chunk = max(1, math.floor(0.1 * SOAK_API_RATE_LIMIT))  # DRIFT_RATE_LIMIT_LEASE_FRACTION
    # never more than the budget over all processes; at most a chunk per process unspent
    assert SOAK_API_RATE_LIMIT - len(cluster.apis) * chunk <= admitted <= SOAK_API_RATE_LIMIT
    refused = [(r, n) for r, n in zip(answers, names, strict=True) if r.status_code == 429]
    assert {n for _, n in refused} == {p.name for p in cluster.apis}  # every API refuses
    for r, _ in refused:
        assert r.json()["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) >= 1
        assert r.headers["ratelimit-policy"] == (f'"api";q={SOAK_API_RATE_LIMIT};'
                                                 f"w={SOAK_RATE_WINDOW}")
