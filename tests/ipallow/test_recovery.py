"""Lock-out recovery: the operator's CLI reset and the owner's emailed one-time link."""

from __future__ import annotations

import getpass
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core import clock
from app.core.runtime import Runtime
from app.email import sender
from tests.conftest import DbInfo, SmtpSink, Tenant, assert_problem, audit_events, runtime_with
from tests.ipallow.conftest import PREFIX, ClientFactory, add_entry, entry_cidrs
from tests.ipallow.recipes import reset_token
from tests.recipes import Env

ME = "/api/v1/me"
RESET = f"{PREFIX}/emergency-reset"


def _cli(test_db: DbInfo, tmp_path: Path, *args: str, stdin: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRIFT_DATABASE_URL": test_db.app_url,
           "DRIFT_MIGRATION_DATABASE_URL": test_db.owner_url, "DRIFT_DATA_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
async def test_operator_cli_reset(test_db: DbInfo, tmp_path: Path, client_from: ClientFactory,
                                  tenant: Tenant, other_tenant: Tenant) -> None:
    await add_entry(tenant, "10.0.0.0/8")
    await add_entry(tenant, "2001:db8::/32")
    await add_entry(other_tenant, "10.0.0.0/8")
    locked = client_from("192.168.1.1")
    assert_problem(await locked.get(ME, headers=tenant.headers), 403, "ip_not_allowed")

    # without --yes (and no terminal to answer) nothing happens
    refused = _cli(test_db, tmp_path, "ip-allowlist", "reset", "--tenant", tenant.slug,
                   stdin="")
    assert refused.returncode != 0
    assert len(await entry_cidrs(tenant)) == 2

    out = _cli(test_db, tmp_path, "ip-allowlist", "reset", "--tenant", tenant.slug, "--yes",
               "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["cleared"] == 2 and result["tenant_id"] == str(tenant.id)
    assert sorted(result["entries"]) == ["10.0.0.0/8", "2001:db8::/32"]
    assert await entry_cidrs(tenant) == []
    assert await entry_cidrs(other_tenant) == ["10.0.0.0/8"]  # nobody else's list
    # another process made the change; this one enforces it on the very next request
    assert (await locked.get(ME, headers=tenant.headers)).status_code == 200
    assert_problem(await locked.get(ME, headers=other_tenant.headers), 403, "ip_not_allowed")

    (event,) = await audit_events(tenant, action="ip_allowlist.emergency_reset")
    assert event["actor_type"] == "system" and event["actor_id"] is None
    assert event["outcome"] == "success"
    assert event["metadata"]["operator"] == getpass.getuser()
    assert event["metadata"]["via"] == "cli" and event["metadata"]["cleared"] == 2

    # by tenant id too; unknown tenants are an error
    await add_entry(other_tenant, "172.16.0.0/12")
    by_id = _cli(test_db, tmp_path, "ip-allowlist", "reset", "--tenant", str(other_tenant.id),
                 "--yes")
    assert by_id.returncode == 0, by_id.stderr
    assert "cleared 2" in by_id.stdout and await entry_cidrs(other_tenant) == []
    for ref in ("no-such-tenant", "00000000-0000-4000-8000-000000000000"):
        missing = _cli(test_db, tmp_path, "ip-allowlist", "reset", "--tenant", ref, "--yes")
        assert missing.returncode == 1 and "no tenant" in missing.stderr.lower(), missing.stderr


def _token_from(message: Any) -> str:
    m = re.search(r"https://drift\.test(/api/v1/settings/ip-allowlist/emergency-reset/"
                  r"(dce_[A-Za-z0-9_-]{43}))\s", message.get_content())
    assert m, message.get_content()
    return m.group(2)


async def test_owner_email_link_reset(runtime: Runtime, smtp_sink: SmtpSink,
                                      client_from: ClientFactory, tenant: Tenant) -> None:
    await add_entry(tenant, "10.0.0.0/8")
    locked = client_from("192.168.1.1")
    assert (await locked.get(ME, headers=tenant.headers)).status_code == 403
    # the owner, locked out, can still ask for the link (the endpoint is exempt)
    r = await locked.post(RESET, headers=tenant.headers)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "email_sent" and r.json()["sent_to"] == tenant.owner.email
    assert "dce_" not in r.text  # the token travels by email only
    stored = await tenant.sql("SELECT token_hash, expires_at, created_at, requested_ip"
                              " FROM ip_allowlist_resets")
    assert len(stored) == 1 and len(bytes(stored[0]["token_hash"])) == 32
    assert stored[0]["expires_at"] - stored[0]["created_at"] == timedelta(minutes=30)
    assert str(stored[0]["requested_ip"]) == "192.168.1.1"

    assert await sender.run_once(runtime_with(runtime, smtp_url=smtp_sink.url)) >= 1
    message = await smtp_sink.wait_for(tenant.owner.email)
    assert tenant.slug in message["Subject"]
    assert "192.168.1.1" in message.get_content()
    token = _token_from(message)
    assert token.startswith("dce_")
    url = f"{RESET}/{token}"

    # opening the link shows a confirmation and changes nothing
    page = await locked.get(url)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<form method=\"post\"" in page.text and tenant.slug in page.text
    assert await entry_cidrs(tenant) == ["10.0.0.0/8"]

    done = await locked.post(url)  # no credentials: the token is the proof
    assert done.status_code == 200, done.text
    assert done.json() == {"status": "cleared", "cleared": 1}
    assert await entry_cidrs(tenant) == []
    assert (await locked.get(ME, headers=tenant.headers)).status_code == 200

    again = await locked.post(url)
    assert again.status_code == 410 and again.json()["code"] == "reset_token_used"
    events = await audit_events(tenant, resource_type="ip_allowlist")
    actions = [(e["action"], e["outcome"]) for e in events]
    assert actions == [("ip_allowlist.denied", "denied"),
                       ("ip_allowlist.reset_requested", "success"),
                       ("ip_allowlist.emergency_reset", "success"),
                       ("ip_allowlist.emergency_reset", "denied")]
    reset = events[2]
    assert reset["actor_type"] == "user" and reset["actor_id"] == tenant.owner.id
    assert reset["metadata"]["via"] == "email_link" and reset["metadata"]["entries"] == [
        "10.0.0.0/8"]
    assert str(reset["ip"]) == "192.168.1.1"
    assert events[3]["metadata"]["reason"] == "token_used"


async def test_browser_form_post_gets_a_page(client: httpx.AsyncClient, runtime: Runtime,
                                             tenant: Tenant, other_tenant: Tenant) -> None:
    env = Env(client=client, tenant=tenant, other=other_tenant, runtime=runtime)
    await add_entry(tenant, "127.0.0.0/8")
    token = await reset_token(env)
    r = await client.post(f"{RESET}/{token}", headers={"Accept": "text/html"})
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "1 entries were removed" in r.text
    assert r.headers["cache-control"] == "no-store"


async def test_link_expires_after_30_minutes(client: httpx.AsyncClient, runtime: Runtime,
                                             tenant: Tenant, other_tenant: Tenant) -> None:
    env = Env(client=client, tenant=tenant, other=other_tenant, runtime=runtime)
    await add_entry(tenant, "127.0.0.0/8")
    token = await reset_token(env)
    clock.advance(timedelta(minutes=29))
    assert (await client.get(f"{RESET}/{token}")).status_code == 200
    clock.advance(timedelta(minutes=1, seconds=1))
    for method in ("GET", "POST"):
        r = await client.request(method, f"{RESET}/{token}")
        assert r.status_code == 410 and r.json()["code"] == "reset_token_expired"
    assert await entry_cidrs(tenant) == ["127.0.0.0/8"]


async def test_a_new_link_supersedes_the_old_one(client: httpx.AsyncClient, runtime: Runtime,
                                                 tenant: Tenant, other_tenant: Tenant) -> None:
    env = Env(client=client, tenant=tenant, other=other_tenant, runtime=runtime)
    await add_entry(tenant, "127.0.0.0/8")
    first = await reset_token(env)
    second = await reset_token(env)
    r = await client.post(f"{RESET}/{first}")
    assert r.status_code == 410 and r.json()["code"] == "reset_token_superseded"
    assert await entry_cidrs(tenant) == ["127.0.0.0/8"]
    assert (await client.post(f"{RESET}/{second}")).status_code == 200
    assert await entry_cidrs(tenant) == []


async def test_unknown_and_malformed_tokens(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await add_entry(tenant, "127.0.0.0/8")
    for token in ("dce_" + "A" * 43, "nope", "dck_" + "A" * 43):
        r = await client.post(f"{RESET}/{token}")
        assert r.status_code == 404 and r.json()["code"] == "reset_token_invalid", token
    assert_problem(await client.post(f"{RESET}/dce_{'x' * 200}"), 422, "validation_error")
    assert await entry_cidrs(tenant) == ["127.0.0.0/8"]


async def test_reset_token_only_touches_its_own_tenant(client: httpx.AsyncClient,
                                                       runtime: Runtime, tenant: Tenant,
                                                       other_tenant: Tenant) -> None:
    await add_entry(tenant, "127.0.0.0/8")
    await add_entry(other_tenant, "127.0.0.0/8")
    await add_entry(other_tenant, "10.0.0.0/8")
    mine = await reset_token(Env(client=client, tenant=tenant, other=other_tenant,
                                 runtime=runtime))
    r = await client.post(f"{RESET}/{mine}")
    assert r.status_code == 200 and r.json()["cleared"] == 1
    assert await entry_cidrs(tenant) == []
    assert await entry_cidrs(other_tenant) == ["10.0.0.0/8", "127.0.0.0/8"]
    assert await audit_events(other_tenant, action="ip_allowlist.emergency_reset") == []
    # the other tenant's owner cannot use or see this tenant's reset rows
    assert await other_tenant.sql("SELECT 1 FROM ip_allowlist_resets") == []


async def test_reset_requests_are_rate_limited(client: httpx.AsyncClient, tenant: Tenant
                                               ) -> None:
    for _ in range(5):
        assert (await client.post(RESET, headers=tenant.headers)).status_code == 202
    r = await client.post(RESET, headers=tenant.headers)
    assert r.status_code == 429 and r.json()["code"] == "too_many_requests"
    assert "retry-after" in r.headers
    clock.advance(timedelta(hours=1, seconds=1))
    assert (await client.post(RESET, headers=tenant.headers)).status_code == 202
