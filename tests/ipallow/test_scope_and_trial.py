"""Issue 18: entries scoped to user credentials or to SCIM tokens, and the report-only
(candidate) list with its would-be-denial report and promotion."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from app.core import clock
from app.core.runtime import Runtime
from app.main import create_app
from tests.conftest import Tenant, asgi_client, audit_events, bearer
from tests.ipallow.conftest import PREFIX, add_entry, entry_cidrs
from tests.ipallow.recipes import reset_token
from tests.recipes import Env
from tests.scim.conftest import create_token

ME = "/api/v1/me"
SCIM_USERS = "/scim/v2/Users"


async def _scim_token(runtime: Runtime, tenant: Tenant) -> str:
    async with asgi_client(create_app(runtime.settings, runtime=runtime, run_worker=False)) as c:
        return str((await create_token(c, tenant))["token"])


async def _status(app: Any, ip: str, url: str, headers: dict[str, str]) -> int:
    async with asgi_client(app, ip=ip) as c:
        return (await c.get(url, headers=headers)).status_code


async def test_scope_separates_users_from_scim(runtime: Runtime, tenant: Tenant) -> None:
    """Users locked to the office, the IdP provisioning from its own range: each credential
    kind is checked only against the entries for it (plus scope all)."""
    app = create_app(runtime.settings, runtime=runtime, run_worker=False)
    scim = bearer(await _scim_token(runtime, tenant))
    await add_entry(tenant, "203.0.113.0/24", scope="users")
    await add_entry(tenant, "10.0.0.0/8", scope="scim")
    assert await _status(app, "203.0.113.7", ME, tenant.headers) == 200
    assert await _status(app, "10.0.0.9", ME, tenant.headers) == 403  # the IdP's range
    assert await _status(app, "10.0.0.9", SCIM_USERS, scim) == 200
    assert await _status(app, "203.0.113.7", SCIM_USERS, scim) == 403  # the office
    # an entry for all credentials admits both
    await add_entry(tenant, "198.51.100.0/24")
    assert await _status(app, "198.51.100.1", ME, tenant.headers) == 200
    assert await _status(app, "198.51.100.1", SCIM_USERS, scim) == 200


async def test_entries_for_one_kind_leave_the_other_open(runtime: Runtime,
                                                         tenant: Tenant) -> None:
    app = create_app(runtime.settings, runtime=runtime, run_worker=False)
    scim = bearer(await _scim_token(runtime, tenant))
    entry = await add_entry(tenant, "10.0.0.0/8", scope="scim")
    assert await _status(app, "192.168.1.1", ME, tenant.headers) == 200
    assert await _status(app, "192.168.1.1", SCIM_USERS, scim) == 403
    await tenant.sql("UPDATE ip_allowlist SET scope = 'users' WHERE id = $1", entry)
    assert await _status(app, "192.168.1.1", ME, tenant.headers) == 403
    assert await _status(app, "192.168.1.1", SCIM_USERS, scim) == 200


async def test_api_scope_field_and_lock_out_per_scope(client: httpx.AsyncClient,
                                                      tenant: Tenant) -> None:
    """The caller (127.0.0.1, a user) cannot lock itself out with a users entry, but a SCIM
    entry elsewhere never refuses it, so it needs no force."""
    r = await client.post(PREFIX, headers=tenant.headers,
                          json={"cidr": "10.0.0.0/8", "scope": "scim"})
    assert r.status_code == 201, r.text
    assert r.json()["scope"] == "scim" and r.json()["mode"] == "enforce"
    r = await client.post(PREFIX, headers=tenant.headers,
                          json={"cidr": "203.0.113.0/24", "scope": "users"})
    assert r.status_code == 409 and r.json()["code"] == "would_lock_out_caller"
    r = await client.post(PREFIX, headers=tenant.headers,
                          json={"cidr": "203.0.113.0/24", "scope": "everyone"})
    assert r.status_code == 422
    assert await entry_cidrs(tenant) == ["10.0.0.0/8"]
    # moving the SCIM entry to users would lock the caller out too
    entry_id = (await client.get(PREFIX, headers=tenant.headers)).json()["data"][0]["id"]
    r = await client.patch(f"{PREFIX}/{entry_id}", headers=tenant.headers,
                           json={"scope": "users"})
    assert r.status_code == 409 and r.json()["code"] == "would_lock_out_caller"
    r = await client.patch(f"{PREFIX}/{entry_id}", headers=tenant.headers, json={"scope": None})
    assert r.status_code == 400 and r.json()["code"] == "invalid_scope"
    # /check answers per credential kind
    r = await client.post(f"{PREFIX}/check", headers=tenant.headers,
                          json={"ip": "192.168.1.1", "credential": "scim"})
    assert r.json()["allowed"] is False and r.json()["reason"] == "not_listed"
    r = await client.post(f"{PREFIX}/check", headers=tenant.headers, json={"ip": "192.168.1.1"})
    assert r.json()["allowed"] is True and r.json()["reason"] == "no_entries"


async def test_email_reset_keeps_the_scim_entries(client: httpx.AsyncClient, runtime: Runtime,
                                                  tenant: Tenant, other_tenant: Tenant) -> None:
    """The owner's emailed reset clears what refuses users; the IdP's restriction stays."""
    env = Env(client=client, tenant=tenant, other=other_tenant, runtime=runtime)
    await add_entry(tenant, "127.0.0.0/8")
    await add_entry(tenant, "203.0.113.0/24", scope="users")
    await add_entry(tenant, "10.0.0.0/8", scope="scim")
    token = await reset_token(env)
    r = await client.post(f"{PREFIX}/emergency-reset/{token}")
    assert r.status_code == 200 and r.json()["cleared"] == 2
    assert await entry_cidrs(tenant) == ["10.0.0.0/8"]


async def _report(client: httpx.AsyncClient, tenant: Tenant) -> list[dict[str, Any]]:
    r = await client.get(f"{PREFIX}/report", headers=tenant.headers)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["data"]
    return rows


async def test_report_only_list_refuses_nothing_and_reports(runtime: Runtime, tenant: Tenant,
                                                            client: httpx.AsyncClient) -> None:
    """A candidate list is evaluated on live traffic: nothing is refused, the would-be
    refusals are counted per (credential, address, user), with one write per key and minute."""
    clock.freeze()
    app = create_app(runtime.settings, runtime=runtime, run_worker=False)
    scim = bearer(await _scim_token(runtime, tenant))
    await add_entry(tenant, "10.0.0.0/8", mode="report_only")
    await add_entry(tenant, "127.0.0.0/8", mode="report_only")  # where the admin reads from
    for _ in range(3):
        assert await _status(app, "192.168.1.1", ME, tenant.headers) == 200
    assert await _status(app, "10.1.2.3", ME, tenant.headers) == 200  # inside: not reported
    assert await _status(app, "192.168.1.2", SCIM_USERS, scim) == 200
    rows = await _report(client, tenant)
    by_ip = {r["ip"]: r for r in rows}
    assert set(by_ip) == {"192.168.1.1", "192.168.1.2"}
    user_row = by_ip["192.168.1.1"]
    assert user_row["credential_type"] == "api_key"
    assert user_row["user_id"] == str(tenant.owner.id)
    assert user_row["count"] == 1  # written once this minute; the other hits are pending
    assert by_ip["192.168.1.2"]["credential_type"] == "scim_token"
    assert by_ip["192.168.1.2"]["user_id"] is None
    clock.advance(timedelta(minutes=1))
    assert await _status(app, "192.168.1.1", ME, tenant.headers) == 200
    user_row = {r["ip"]: r for r in await _report(client, tenant)}["192.168.1.1"]
    assert user_row["count"] == 4
    assert user_row["last_seen"] > user_row["first_seen"]
    assert await audit_events(tenant, action="ip_allowlist.denied") == []


async def test_trial_runs_beside_the_enforced_list(runtime: Runtime, tenant: Tenant,
                                                   client: httpx.AsyncClient) -> None:
    app = create_app(runtime.settings, runtime=runtime, run_worker=False)
    await add_entry(tenant, "127.0.0.0/8")
    await add_entry(tenant, "192.168.0.0/16")
    await add_entry(tenant, "127.0.0.0/8", mode="report_only")  # same network on both lists
    await add_entry(tenant, "10.0.0.0/8", mode="report_only")
    assert await _status(app, "192.168.1.1", ME, tenant.headers) == 200  # enforced allows
    assert await _status(app, "10.1.1.1", ME, tenant.headers) == 403  # enforced refuses
    assert [r["ip"] for r in await _report(client, tenant)] == ["192.168.1.1"]

    r = await client.post(f"{PREFIX}/promote", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "promoted", "promoted": 2, "removed": 2}
    rows = await tenant.sql("SELECT cidr, mode FROM ip_allowlist ORDER BY cidr")
    assert [(str(x["cidr"]), x["mode"]) for x in rows] == [("10.0.0.0/8", "enforce"),
                                                           ("127.0.0.0/8", "enforce")]
    assert await _report(client, tenant) == []
    assert await _status(app, "192.168.1.1", ME, tenant.headers) == 403
    assert await _status(app, "10.1.1.1", ME, tenant.headers) == 200
    event = (await audit_events(tenant, action="ip_allowlist.promote"))[0]
    assert {e["cidr"] for e in event["metadata"]["promoted"]} == {"10.0.0.0/8", "127.0.0.0/8"}
    assert {e["cidr"] for e in event["metadata"]["removed"]} == {"127.0.0.0/8",
                                                                 "192.168.0.0/16"}
    r = await client.post(f"{PREFIX}/promote", headers=tenant.headers)
    assert r.status_code == 409 and r.json()["code"] == "no_candidate_entries"


async def test_promote_protects_against_lock_out(client: httpx.AsyncClient,
                                                 tenant: Tenant) -> None:
    await add_entry(tenant, "127.0.0.0/8")
    await add_entry(tenant, "10.0.0.0/8", mode="report_only")
    r = await client.post(f"{PREFIX}/promote", headers=tenant.headers)
    assert r.status_code == 409 and r.json()["code"] == "would_lock_out_caller"
    rows = await tenant.sql("SELECT cidr, mode FROM ip_allowlist ORDER BY cidr")
    assert [(str(x["cidr"]), x["mode"]) for x in rows] == [("10.0.0.0/8", "report_only"),
                                                           ("127.0.0.0/8", "enforce")]
    r = await client.post(f"{PREFIX}/promote", headers=tenant.headers, json={"force": True})
    assert r.status_code == 200
    event = (await audit_events(tenant, action="ip_allowlist.promote"))[0]
    assert event["metadata"]["forced_lock_out"] is True


async def test_mode_switch_is_audited(client: httpx.AsyncClient, tenant: Tenant) -> None:
    # a report-only entry never refuses, so adding it outside the caller's address is fine
    r = await client.post(PREFIX, headers=tenant.headers,
                          json={"cidr": "10.0.0.0/8", "mode": "report_only"})
    assert r.status_code == 201 and r.json()["mode"] == "report_only"
    entry_id = r.json()["id"]
    r = await client.patch(f"{PREFIX}/{entry_id}", headers=tenant.headers,
                           json={"mode": "enforce"})
    assert r.status_code == 409 and r.json()["code"] == "would_lock_out_caller"
    await add_entry(tenant, "127.0.0.0/8")
    r = await client.patch(f"{PREFIX}/{entry_id}", headers=tenant.headers,
                           json={"mode": "enforce"})
    assert r.status_code == 200 and r.json()["mode"] == "enforce"
    event = (await audit_events(tenant, action="ip_allowlist.update"))[0]
    assert event["metadata"]["changes"]["mode"] == {"from": "report_only", "to": "enforce"}
    # the same network on the candidate list once more is fine; twice is a duplicate
    body = {"cidr": "10.0.0.0/8", "mode": "report_only"}
    assert (await client.post(PREFIX, headers=tenant.headers, json=body)).status_code == 201
    r = await client.post(PREFIX, headers=tenant.headers, json=body)
    assert r.status_code == 409 and r.json()["code"] == "duplicate_cidr"
