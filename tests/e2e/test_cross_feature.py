"""The five capabilities working together, one flow per test, over real HTTP (the app under
uvicorn), the real PostgreSQL, a real webhook receiver and a real SMTP server.

- SCIM deprovisioning -> signed `user.deprovisioned` webhook -> audit event -> every old
  credential of the user is refused.
- Team project access and the IP allowlist, through a trusted proxy.
- A tenant's whole life: created by the CLI, a member invited by email and accepted, a team
  with the member and a project, a webhook, a sync, the audit log, an allowlist entry,
  ownership handed over, and the NDJSON export holding all of it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

from app.config import Settings, parse_networks
from app.core.runtime import Runtime
from app.email import sender
from app.webhooks import dispatcher
from app.worker import Job, Worker
from tests.audit.conftest import ndjson
from tests.conftest import (
    DbInfo,
    LiveServer,
    SmtpSink,
    Tenant,
    User,
    assert_problem,
    bearer,
    runtime_with,
)
from tests.e2e.conftest import cli, drift_env
from tests.scim.conftest import PATCH_URN, SCIM_JSON
from tests.teams.conftest import token_in
from tests.webhooks.conftest import Receiver, quiesce
from tests.webhooks.helpers import signed_by, validate_event

PASSWORD = "correct horse battery staple"


@asynccontextmanager
async def live(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app under uvicorn (its own pool, caches and listeners) and a client for it."""
    server = LiveServer(settings.model_copy(update=overrides)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            yield c
    finally:
        server.stop()


@asynccontextmanager
async def worker_for(rt: Runtime, tenant_id: uuid.UUID, *, email: bool = False
                     ) -> AsyncIterator[None]:
    """A worker running beside the service, woken by NOTIFY like the real one: webhook
    deliveries of this tenant only (other tests' data stays alone), and email if asked."""
    jobs = [Job("webhooks", lambda r: dispatcher.run_once(r, tenants={tenant_id}),
                interval=0.5, channels=("drift_webhooks",))]
    if email:
        jobs.append(Job("email", sender.run_once, interval=0.5, channels=("drift_email",)))
    worker = Worker(rt, jobs=jobs)
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        worker.stop()
        await task


def assert_refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code, r.text


async def test_scim_deprovisioning_reaches_webhook_audit_and_every_credential(
        settings: Settings, runtime: Runtime, tenant: Tenant, receiver: Receiver) -> None:
    hook = receiver.hook()
    person = await tenant.add_user("member", password=PASSWORD)  # an API key of their own
    async with live(settings) as api, worker_for(runtime, tenant.id):
        login = await api.post("/api/v1/auth/login", json={
            "tenant": tenant.slug, "email": person.email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        session = login.json()
        credentials = {"api key": person.headers, "session": bearer(session["access_token"])}
        for how, headers in credentials.items():
            assert (await api.get("/api/v1/me", headers=headers)).status_code == 200, how

        r = await api.post("/api/v1/webhooks", headers=tenant.headers, json={
            "url": hook.url, "events": ["user.deprovisioned"]})
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        r = await api.post("/api/v1/settings/scim", headers=tenant.headers, json={"name": "Okta"})
        assert r.status_code == 201, r.text
        idp = {**bearer(r.json()["token"]), "Accept": SCIM_JSON, "Content-Type": SCIM_JSON}

        # the IdP finds the person by userName and deactivates them (Okta's request)
        found = await api.get("/scim/v2/Users", headers=idp,
                              params={"filter": f'userName eq "{person.email}"'})
        assert found.status_code == 200, found.text
        (resource,) = found.json()["Resources"]
        assert resource["id"] == str(person.id) and resource["active"] is True
        r = await api.patch(f"/scim/v2/Users/{person.id}", headers=idp, content=json.dumps({
            "schemas": [PATCH_URN],
            "Operations": [{"op": "replace", "value": {"active": False}}]}))
        assert r.status_code == 200 and r.json()["active"] is False, r.text

        # the webhook: delivered, signed (Standard Webhooks and the hand-made HMAC)
        (got,) = await hook.wait_for(1)
        event = Webhook(secret).verify(got.body, got.headers)
        assert signed_by(secret, got)
        validate_event(event)
        assert event["type"] == "user.deprovisioned" and event["tenant_id"] == str(tenant.id)
        data = event["data"]
        assert (data["user_id"], data["email"], data["source"]) == (
            str(person.id), person.email, "scim")
        assert (data["api_keys_revoked"], data["sessions_revoked"]) == (1, 1)

        # the audit log, through the API
        r = await api.get("/api/v1/audit", headers=tenant.headers,
                          params={"action": "user.deprovisioned"})
        assert r.status_code == 200, r.text
        (audited,) = r.json()["data"]
        assert audited["resource"]["id"] == str(person.id)
        assert audited["actor"]["type"] == "scim" and audited["outcome"] == "success"

        # every old credential is refused on the very next request
        refusals = {}
        for how, headers in credentials.items():
            for path in ("/api/v1/me", "/api/v1/projects"):
                r = await api.get(path, headers=headers)
                assert r.status_code == 401, (how, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                refusals[how] = r.json()["code"]
        assert refusals == {"api key": "credential_revoked", "session": "session_revoked"}
        r = await api.post("/api/v1/auth/refresh",
                           json={"refresh_token": session["refresh_token"]})
        assert r.status_code == 401, r.text
        login = await api.post("/api/v1/auth/login", json={
            "tenant": tenant.slug, "email": person.email, "password": PASSWORD})
        assert login.status_code == 401, login.text
        # the person stays visible to the IdP, inactive, with their data
        r = await api.get(f"/scim/v2/Users/{person.id}", headers=idp)
        assert r.status_code == 200 and r.json()["active"] is False


async def test_team_project_behind_the_allowlist_through_a_trusted_proxy(
        settings: Settings, tenant: Tenant) -> None:
    """The load balancer (the client's socket peer, 127.0.0.1) is a trusted proxy; the client
    address is the rightmost X-Forwarded-For entry that is not a proxy."""
    member = await tenant.add_user("member")
    outsider = await tenant.add_user("member")  # in the tenant, not in the team

    def via(user: User | Tenant, address: str) -> dict[str, str]:
        return {**user.headers, "X-Forwarded-For": address}

    async with live(settings, trusted_proxies=parse_networks("127.0.0.1")) as api:
        admin = via(tenant, "10.0.0.5")
        project = (await api.post("/api/v1/projects", headers=admin,
                                  json={"name": "Payments"})).json()
        team = (await api.post("/api/v1/teams", headers=admin, json={"name": "Payments"})).json()
        r = await api.post(f"/api/v1/teams/{team['id']}/members", headers=admin,
                           json={"user_id": str(member.id)})
        assert r.status_code == 201, r.text
        r = await api.post(f"/api/v1/teams/{team['id']}/projects", headers=admin,
                           json={"project_id": project["id"]})
        assert r.status_code == 201, r.text
        r = await api.post("/api/v1/settings/ip-allowlist", headers=admin,
                           json={"cidr": "10.0.0.0/8", "description": "office VPN"})
        assert r.status_code == 201, r.text
        url = f"/api/v1/projects/{project['id']}"

        ok = await api.get(url, headers=via(member, "10.1.2.3"))
        assert ok.status_code == 200 and ok.json()["id"] == project["id"], ok.text
        listed = await api.get("/api/v1/projects", headers=via(member, "10.1.2.3"))
        assert [p["id"] for p in listed.json()["data"]] == [project["id"]]

        refused = await api.get(url, headers=via(member, "192.168.1.1"))
        assert_refused(refused, 403, "ip_not_allowed")
        assert refused.json()["ip"] == "192.168.1.1"
        # a spoofed entry left of the real address does not help
        spoofed = await api.get(url, headers=via(member, "10.1.2.3, 192.168.1.1"))
        assert_refused(spoofed, 403, "ip_not_allowed")
        # without the proxy's header the peer itself is the client, and it is not listed
        assert_refused(await api.get(url, headers=member.headers), 403, "ip_not_allowed")

        assert_refused(await api.get(url, headers=via(outsider, "10.1.2.3")), 403,
                       "project_access_denied")
        listed = await api.get("/api/v1/projects", headers=via(outsider, "10.1.2.3"))
        assert listed.status_code == 200 and listed.json()["data"] == []

    denied = await tenant.sql("SELECT ip::text AS ip, actor_id FROM audit_events"
                              " WHERE action = 'ip_allowlist.denied'")
    # refusals are audited (at most one per address and minute); a trusted proxy that names
    # no client leaves the address unknown
    assert {(r["ip"], r["actor_id"]) for r in denied} == {
        ("192.168.1.1/32", member.id), (None, member.id)}


LIFECYCLE = ["tenant.create", "invitation.create", "invitation.accept", "team.create",
             "team.member_add", "project.create", "team.project_assign", "webhook.register",
             "sync.ingest"]


async def test_a_tenants_whole_life(settings: Settings, runtime: Runtime, test_db: DbInfo,
                                    receiver: Receiver, smtp_sink: SmtpSink,
                                    tmp_path: Path) -> None:
    slug = f"life-{secrets.token_hex(4)}"
    owner_email = f"owner@{slug}.example"
    env = drift_env(test_db.app_url, test_db.owner_url, tmp_path)
    created = await cli(env, "tenants", "create", "--name", "Life Co", "--slug", slug,
                        "--owner-email", owner_email, "--owner-password", PASSWORD,
                        "--plan", "enterprise")
    tenant = Tenant(id=uuid.UUID(created["tenant_id"]), slug=slug, rt=runtime,
                    owner=User(id=uuid.UUID(created["owner_user_id"]), email=owner_email,
                               role="owner", api_key=created["api_key"]))
    owner = tenant.headers
    hook = receiver.hook()
    mail_rt = runtime_with(runtime, smtp_url=smtp_sink.url)
    try:
        async with live(settings) as api, worker_for(mail_rt, tenant.id, email=True):
            # invite a colleague; the worker mails the link; they accept from the email
            dana = f"dana@{slug}.example"
            r = await api.post("/api/v1/invitations", headers=owner,
                               json={"email": dana, "role": "member"})
            assert r.status_code == 201, r.text
            mail = await smtp_sink.wait_for(dana)
            token = token_in(mail.get_content())
            r = await api.post(f"/api/v1/invitations/{token}/accept",
                               json={"name": "Dana", "password": PASSWORD})
            assert r.status_code == 200, r.text
            accepted = r.json()
            dana_id = accepted["user"]["id"]
            dana_session = bearer(accepted["access_token"])
            assert accepted["user"]["role"] == "member"

            # a team with Dana and a project
            team = (await api.post("/api/v1/teams", headers=owner,
                                   json={"name": "Checkout"})).json()
            r = await api.post(f"/api/v1/teams/{team['id']}/members", headers=owner,
                               json={"email": dana})
            assert r.status_code == 201, r.text
            project = (await api.post("/api/v1/projects", headers=owner,
                                      json={"name": "Checkout API"})).json()
            r = await api.post(f"/api/v1/teams/{team['id']}/projects", headers=owner,
                               json={"project_id": project["id"]})
            assert r.status_code == 201, r.text

            # a webhook for scan.completed; Dana's client syncs a scan
            r = await api.post("/api/v1/webhooks", headers=owner, json={
                "url": hook.url, "events": ["scan.completed"]})
            assert r.status_code == 201, r.text
            secret = r.json()["secret"]
            now = datetime.now(UTC)
            r = await api.post("/api/v1/sync", headers=dana_session, json={
                "project_id": project["id"],
                "scan": {"id": "scan-1", "started_at": (now - timedelta(minutes=2)).isoformat(),
                         "completed_at": now.isoformat(), "files_scanned": 812,
                         "duration_ms": 90000, "counts": {"high": 1}},
                "gate_results": [{"gate": "security", "passed": True, "score": 0.9,
                                  "threshold": 0.8}],
                "violations": [{"fingerprint": "fp-1", "rule": "sql-injection",
                                "severity": "high", "file": "src/db.py", "line": 42,
                                "message": "query built from input", "code": "SECRET"}]})
            assert r.status_code == 201, r.text
            (got,) = await hook.wait_for(1)
            event = Webhook(secret).verify(got.body, got.headers)
            assert signed_by(secret, got)
            validate_event(event)
            assert event["type"] == "scan.completed"
            assert event["data"]["project_id"] == project["id"]
            assert event["data"]["scan"]["id"] == "scan-1"
            assert b"SECRET" not in got.body

            # the audit log has every step, in order
            r = await api.get("/api/v1/audit", headers=owner,
                              params={"order": "asc", "limit": 200})
            assert r.status_code == 200, r.text
            steps = [e["action"] for e in r.json()["data"] if e["action"] in LIFECYCLE]
            assert steps == LIFECYCLE

            # an allowlist entry for the office (this client's address) is enforced at once
            r = await api.post("/api/v1/settings/ip-allowlist", headers=owner,
                               json={"cidr": "10.0.0.0/8"})
            assert_refused(r, 409, "would_lock_out_caller")  # it would lock us out
            r = await api.post("/api/v1/settings/ip-allowlist", headers=owner,
                               json={"cidr": "127.0.0.1/32", "description": "office"})
            assert r.status_code == 201, r.text
            elsewhere = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
            async with httpx.AsyncClient(base_url=str(api.base_url), transport=elsewhere,
                                         timeout=30) as outside:
                refused = await outside.get(f"/api/v1/projects/{project['id']}",
                                            headers=dana_session)
                assert_refused(refused, 403, "ip_not_allowed")
                assert refused.json()["ip"] == "127.0.0.2"
            r = await api.get(f"/api/v1/projects/{project['id']}", headers=dana_session)
            assert r.status_code == 200, r.text

            # ownership to Dana: the roles swap
            r = await api.post("/api/v1/settings/transfer-ownership", headers=owner,
                               json={"new_owner_id": dana_id})
            assert r.status_code == 200, r.text
            roles = {m["user"]["email"]: m["role"] for m in (
                await api.get("/api/v1/members", headers=owner)).json()["data"]}
            assert roles == {owner_email: "admin", dana: "owner"}
            me = (await api.get("/api/v1/me", headers=dana_session)).json()
            assert me["user"]["role"] == "owner"
            again = await api.post("/api/v1/settings/transfer-ownership", headers=owner,
                                   json={"new_owner_id": dana_id})
            assert_problem(again, 403, "insufficient_role")  # the old owner cannot any more

            # the NDJSON export holds all of it, in order
            r = await api.get("/api/v1/audit/export", headers=owner)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("application/x-ndjson")
            exported = ndjson(r.content)
    finally:
        await quiesce(tenant)

    actions = [e["action"] for e in exported]
    assert [e["seq"] for e in exported] == list(range(1, len(exported) + 1))
    wanted = [*LIFECYCLE, "ip_allowlist.add", "ip_allowlist.denied",
              "tenant.ownership_transfer", "tenant.ownership_transfer"]
    assert [a for a in actions if a in wanted] == wanted, actions
    by_action = {e["action"]: e for e in exported}
    assert by_action["invitation.accept"]["actor"]["id"] == dana_id
    assert by_action["sync.ingest"]["actor"]["id"] == dana_id
    assert by_action["ip_allowlist.denied"]["ip"] == "127.0.0.2"
    transfers = [e for e in exported if e["action"] == "tenant.ownership_transfer"]
    assert {e["resource"]["id"] for e in transfers} == {dana_id, str(tenant.owner.id)}
    assert "audit.query" in actions  # reading the log is itself audited
