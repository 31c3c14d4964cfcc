"""Enforcement: every request authenticated for a tenant is checked against its allowlist right
after authentication (API keys, session JWTs, any other caller of run_tenant_checks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from app.core import clock
from app.core.runtime import Runtime
from app.ipallow.enforcement import check_ip_allowlist
from app.main import create_app
from app.ratelimit.budget import check_budget
from tests.conftest import Tenant, app_with, asgi_client, assert_problem, audit_events, bearer
from tests.ipallow.conftest import PREFIX, ClientFactory, add_entry

ME = "/api/v1/me"
MeFrom = Callable[[str], Awaitable[httpx.Response]]


@pytest.fixture
def me_from(client_from: ClientFactory, tenant: Tenant) -> MeFrom:
    """me_from(ip): GET /api/v1/me with the tenant owner's key, from a client at `ip`."""
    async def get(ip: str) -> httpx.Response:
        return await client_from(ip).get(ME, headers=tenant.headers)

    return get


def _refused(r: httpx.Response, ip: str) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "ip_not_allowed"
    assert body["ip"] == ip
    assert ip in body["detail"]


async def test_every_app_create_app_builds_enforces_the_allowlist(runtime: Runtime,
                                                                  tenant: Tenant) -> None:
    """The check is wired by create_app, not by importing a module: an app built on a fresh
    runtime enforces it as the test app does."""
    await add_entry(tenant, "10.0.0.0/8")
    fresh = Runtime(settings=runtime.settings, db=runtime.db, jwt_secret=runtime.jwt_secret,
                    secret_key=runtime.secret_key)
    assert fresh.tenant_checks == []
    for app in (create_app(runtime.settings, runtime=fresh), app_with(runtime)):
        assert app.state.runtime.tenant_checks == [check_ip_allowlist, check_budget]
        async with asgi_client(app, "192.168.1.1") as c:
            _refused(await c.get(ME, headers=tenant.headers), "192.168.1.1")


async def test_listed_network_refuses_outside_address(me_from: MeFrom, tenant: Tenant) -> None:
    await add_entry(tenant, "10.0.0.0/8")
    r = await me_from("192.168.1.1")
    _refused(r, "192.168.1.1")
    assert (await me_from("10.20.30.40")).status_code == 200


async def test_listed_network_allows_inside_address(me_from: MeFrom, tenant: Tenant) -> None:
    await add_entry(tenant, "192.168.0.0/16")
    r = await me_from("192.168.1.100")
    assert r.status_code == 200, r.text
    assert r.json()["tenant"]["id"] == str(tenant.id)


async def test_empty_list_allows_any_address(me_from: MeFrom, tenant: Tenant) -> None:
    for ip in ("192.168.1.1", "8.8.8.8", "2001:db8::1", "::ffff:10.1.2.3", "127.0.0.1"):
        r = await me_from(ip)
        assert r.status_code == 200, (ip, r.text)
    assert await audit_events(tenant, action="ip_allowlist.denied") == []


async def test_entry_expiring_in_two_seconds_allows_now_and_refuses_after(
        client_from: ClientFactory, tenant: Tenant) -> None:
    await add_entry(tenant, "192.168.0.0/16", expires_at=clock.now() + timedelta(seconds=2))
    c = client_from("192.168.1.100")
    assert (await c.get(ME, headers=tenant.headers)).status_code == 200
    clock.advance(timedelta(seconds=1))
    assert (await c.get(ME, headers=tenant.headers)).status_code == 200
    clock.advance(timedelta(seconds=1, milliseconds=1))
    _refused(await c.get(ME, headers=tenant.headers), "192.168.1.100")
    # the expired entry is still listed, shown as expired, and still closes the list
    await add_entry(tenant, "127.0.0.0/8")
    listed = (await client_from("127.0.0.1").get(PREFIX, headers=tenant.headers)).json()
    by_cidr = {e["cidr"]: e for e in listed["data"]}
    assert by_cidr["192.168.0.0/16"]["expired"] is True
    assert by_cidr["127.0.0.0/8"]["expired"] is False


async def test_only_expired_entries_refuse_everyone(me_from: MeFrom, tenant: Tenant) -> None:
    """A list whose entries all expired is not empty: it fails closed (see docs/ipallow.md)."""
    await add_entry(tenant, "192.168.0.0/16", expires_at=clock.now() + timedelta(seconds=5))
    clock.advance(timedelta(seconds=6))
    _refused(await me_from("192.168.1.1"), "192.168.1.1")
    _refused(await me_from("8.8.8.8"), "8.8.8.8")


async def test_every_route_and_credential_is_enforced(client_from: ClientFactory,
                                                      tenant: Tenant) -> None:
    """API keys and session JWTs, reads and writes, any role: refused before the handler."""
    password = "allowlist-pw-1"
    admin = await tenant.add_user("admin", password=password)
    login = await client_from("10.0.0.5").post("/api/v1/auth/login", json={
        "tenant": tenant.slug, "email": admin.email, "password": password})
    assert login.status_code == 200, login.text
    jwt = {"Authorization": f"Bearer {login.json()['access_token']}"}
    await add_entry(tenant, "10.0.0.0/8")
    outside, inside = client_from("172.16.0.9"), client_from("10.0.0.5")
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", ME, {}), ("GET", "/api/v1/projects", {}),
        ("POST", "/api/v1/projects", {"json": {"name": "nope"}}),
        ("GET", PREFIX, {}), ("POST", f"{PREFIX}/check", {"json": {"ip": "10.0.0.1"}}),
        ("POST", "/api/v1/api-keys", {"json": {"name": "nope"}}),
    ]
    for headers in (tenant.headers, admin.headers, jwt):
        for method, url, kw in calls:
            _refused(await outside.request(method, url, headers=headers, **kw), "172.16.0.9")
        assert (await inside.get(ME, headers=headers)).status_code == 200
    # nothing the refused requests asked for happened
    assert await tenant.sql("SELECT 1 FROM projects") == []
    assert len(await tenant.sql("SELECT 1 FROM api_keys")) == 2


async def test_refusal_comes_before_role_checks_and_is_audited(client_from: ClientFactory,
                                                               tenant: Tenant) -> None:
    viewer = await tenant.add_user("viewer")
    await add_entry(tenant, "10.0.0.0/8")
    r = await client_from("192.168.1.1").get(PREFIX, headers=viewer.headers)
    _refused(r, "192.168.1.1")  # not insufficient_role: the address is checked first
    events = await audit_events(tenant, action="ip_allowlist.denied")
    assert len(events) == 1
    e = events[0]
    assert e["outcome"] == "denied" and str(e["ip"]) == "192.168.1.1"
    assert e["actor_id"] == viewer.id and e["actor_type"] == "api_key"
    assert e["request_id"] == r.headers["x-request-id"]
    assert e["metadata"]["reason"] == "ip_not_allowed" and e["metadata"]["path"] == PREFIX


async def test_denials_are_recorded_once_per_tenant_address_and_minute(
        client_from: ClientFactory, tenant: Tenant, other_tenant: Tenant) -> None:
    await add_entry(tenant, "10.0.0.0/8")
    await add_entry(other_tenant, "10.0.0.0/8")
    clock.freeze(clock.now().replace(second=5, microsecond=0))
    a, b = client_from("192.168.1.1"), client_from("192.168.1.2")
    for _ in range(15):
        assert_problem(await a.get(ME, headers=tenant.headers), 403, "ip_not_allowed")
    assert_problem(await b.get(ME, headers=tenant.headers), 403, "ip_not_allowed")
    assert_problem(await a.get(ME, headers=other_tenant.headers), 403, "ip_not_allowed")
    events = await audit_events(tenant, action="ip_allowlist.denied")
    assert sorted(str(e["ip"]) for e in events) == ["192.168.1.1", "192.168.1.2"]
    assert len(await audit_events(other_tenant, action="ip_allowlist.denied")) == 1
    clock.advance(timedelta(seconds=50))  # same minute
    assert_problem(await a.get(ME, headers=tenant.headers), 403, "ip_not_allowed")
    assert len(await audit_events(tenant, action="ip_allowlist.denied")) == 2
    clock.advance(timedelta(seconds=10))  # next minute
    assert_problem(await a.get(ME, headers=tenant.headers), 403, "ip_not_allowed")
    assert len(await audit_events(tenant, action="ip_allowlist.denied")) == 3


async def test_ipv6_entries_and_addresses(me_from: MeFrom, tenant: Tenant) -> None:
    await add_entry(tenant, "2001:db8:abcd::/48")
    assert (await me_from("2001:db8:abcd:12::1")).status_code == 200
    _refused(await me_from("2001:db8:abce::1"), "2001:db8:abce::1")
    # an IPv4 client never matches an IPv6 entry, even ::/0
    await add_entry(tenant, "::/0")
    _refused(await me_from("10.1.2.3"), "10.1.2.3")
    assert (await me_from("2a00::1")).status_code == 200


async def test_ipv4_mapped_addresses_are_their_ipv4_address(
        client_from: ClientFactory, me_from: MeFrom, tenant: Tenant) -> None:
    await add_entry(tenant, "10.0.0.0/8")
    r = await me_from("::ffff:10.1.2.3")
    assert r.status_code == 200, r.text
    _refused(await me_from("::ffff:192.168.1.1"), "192.168.1.1")
    # entered as a mapped network through the API, it is stored as the IPv4 network
    created = await client_from("10.1.2.3").post(PREFIX, headers=tenant.headers,
                                                 json={"cidr": "::ffff:172.16.0.0/108"})
    assert created.status_code == 201 and created.json()["cidr"] == "172.16.0.0/12"
    assert (await me_from("::ffff:172.16.5.5")).status_code == 200


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(app: Any, tenant: Tenant) -> None:
    await add_entry(tenant, "10.0.0.0/8")
    async with asgi_client(app, ip="192.168.1.1") as c:  # no trusted proxies configured
        r = await c.get(ME, headers={**tenant.headers, "X-Forwarded-For": "10.0.0.1"})
        _refused(r, "192.168.1.1")
    proxied = app_with(app.state.runtime, trusted_proxies="172.20.0.0/16")
    async with asgi_client(proxied, ip="192.168.1.1") as c:  # this peer is not a proxy
        r = await c.get(ME, headers={**tenant.headers, "X-Forwarded-For": "10.0.0.1"})
        _refused(r, "192.168.1.1")


async def test_forwarded_for_from_a_trusted_proxy_uses_the_rightmost_untrusted_hop(
        app: Any, tenant: Tenant) -> None:
    await add_entry(tenant, "10.0.0.0/8")
    proxied = app_with(app.state.runtime, trusted_proxies="172.20.0.0/16, 172.30.0.1")
    async with asgi_client(proxied, ip="172.20.0.2") as c:
        ok = await c.get(ME, headers={**tenant.headers, "X-Forwarded-For": "10.9.8.7"})
        assert ok.status_code == 200, ok.text
        # two proxies: the client is the rightmost address that is not a proxy
        ok = await c.get(ME, headers={**tenant.headers,
                                      "X-Forwarded-For": "10.9.8.7, 172.30.0.1"})
        assert ok.status_code == 200, ok.text
        # spoofed leftmost values do not help: the proxy appended the real address
        for spoof in ("10.0.0.1, 192.168.1.1", "10.0.0.1,10.0.0.2, 192.168.1.1, 172.30.0.1"):
            r = await c.get(ME, headers={**tenant.headers, "X-Forwarded-For": spoof})
            _refused(r, "192.168.1.1")
        # several header lines are one list, in order
        r = await c.get(ME, headers=[("Authorization", tenant.headers["Authorization"]),
                                     ("X-Forwarded-For", "10.0.0.1"),
                                     ("X-Forwarded-For", "192.168.1.1")])
        _refused(r, "192.168.1.1")
        # junk the client put left of the real address is never read
        ok = await c.get(ME, headers={**tenant.headers,
                                      "X-Forwarded-For": "unknown, <script>, 10.1.1.1"})
        assert ok.status_code == 200, ok.text
        # IPv6 and IPv4-mapped hops
        ok = await c.get(ME, headers={**tenant.headers, "X-Forwarded-For": "::ffff:10.2.2.2"})
        assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("header", [
    "not-an-ip", "10.0.0.1, garbage", "10.0.0.1,", "", "10.0.0.1:99999", "10.0.0.1, [::1",
    "10.0.0.1 10.0.0.2", "172.20.0.9",  # the whole chain is proxies: no client address
])
async def test_a_malformed_forwarded_header_never_lets_a_request_through(
        app: Any, tenant: Tenant, header: str) -> None:
    await add_entry(tenant, "10.0.0.0/8")
    await add_entry(tenant, "172.20.0.0/16")  # even the proxies' own network is listed
    proxied = app_with(app.state.runtime, trusted_proxies="172.20.0.0/16")
    async with asgi_client(proxied, ip="172.20.0.2") as c:
        r = await c.get(ME, headers={**tenant.headers, "X-Forwarded-For": header})
        assert r.status_code == 403, (header, r.text)
        assert r.json()["code"] == "ip_not_allowed" and "ip" not in r.json()
        # a trusted proxy that sends no header at all names no client either
        r = await c.get(ME, headers=tenant.headers)
        assert r.status_code == 403 and r.json()["code"] == "ip_not_allowed"
    events = await audit_events(tenant, action="ip_allowlist.denied")
    assert events and events[0]["ip"] is None


async def test_bypass_networks_are_always_allowed(app: Any, tenant: Tenant) -> None:
    await add_entry(tenant, "10.0.0.0/8")
    operator = app_with(app.state.runtime, ip_allowlist_bypass_cidrs="198.51.100.0/24")
    async with asgi_client(operator, ip="198.51.100.7") as c:
        assert (await c.get(ME, headers=tenant.headers)).status_code == 200
    async with asgi_client(operator, ip="198.51.101.7") as c:
        _refused(await c.get(ME, headers=tenant.headers), "198.51.101.7")


async def test_team_member_reaches_team_project_only_from_an_allowed_address(
        client_from: ClientFactory, tenant: Tenant) -> None:
    member = await tenant.add_user("member")
    inside = client_from("10.0.0.5")
    p = (await inside.post("/api/v1/projects", headers=tenant.headers,
                           json={"name": "team project"})).json()
    team = (await tenant.sql("INSERT INTO teams (tenant_id, name) VALUES ($1, 'core')"
                             " RETURNING id", tenant.id))[0]["id"]
    await tenant.sql("INSERT INTO team_memberships (tenant_id, team_id, user_id)"
                     " VALUES ($1, $2, $3)", tenant.id, team, member.id)
    await tenant.sql("INSERT INTO team_projects (tenant_id, team_id, project_id)"
                     " VALUES ($1, $2, $3)", tenant.id, team, UUID(p["id"]))
    await add_entry(tenant, "10.0.0.0/8")
    url = f"/api/v1/projects/{p['id']}"
    r = await inside.get(url, headers=member.headers)
    assert r.status_code == 200 and r.json()["id"] == p["id"]
    _refused(await client_from("192.168.1.1").get(url, headers=member.headers), "192.168.1.1")


async def test_scim_is_enforced(runtime: Runtime, tenant: Tenant) -> None:
    """A SCIM token only names its tenant; the tenant's allowlist decides where an IdP may
    provision from. The refusal uses the SCIM Error schema and is audited."""
    from tests.scim.conftest import create_token

    app = create_app(runtime.settings, runtime=runtime, run_worker=False)
    async with asgi_client(app, ip="10.0.0.9") as c:
        token = (await create_token(c, tenant))["token"]
        await add_entry(tenant, "10.0.0.0/8")
        assert (await c.get("/scim/v2/Users", headers=bearer(token))).status_code == 200
    async with asgi_client(app, ip="192.168.1.1") as c:
        r = await c.post("/scim/v2/Users", headers=bearer(token),
                         json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                               "userName": "blocked@example.com"})
        assert r.status_code == 403
        assert r.json()["status"] == "403" and "192.168.1.1" in r.json()["detail"]
    assert await tenant.sql("SELECT 1 FROM users WHERE user_name = 'blocked@example.com'") == []
    assert {e["metadata"]["path"] for e in await audit_events(
        tenant, action="ip_allowlist.denied")} == {"/scim/v2/Users"}


async def test_invitation_acceptance_is_enforced(runtime: Runtime, tenant: Tenant) -> None:
    """The invitation link carries no credentials, only the tenant's token; the tenant's
    allowlist still decides where it may be accepted from."""
    from tests.teams.conftest import invite_token

    app = create_app(runtime.settings, runtime=runtime, run_worker=False)
    async with asgi_client(app, ip="10.0.0.9") as c:
        _, token = await invite_token(c, runtime, tenant)
        await add_entry(tenant, "10.0.0.0/8")
    async with asgi_client(app, ip="192.168.1.2") as c:
        r = await c.post(f"/api/v1/invitations/{token}/accept", json={})
        assert r.status_code == 403 and r.json()["code"] == "ip_not_allowed"
        assert r.json()["ip"] == "192.168.1.2"
    assert await tenant.sql("SELECT 1 FROM invitations WHERE accepted_at IS NOT NULL") == []
    async with asgi_client(app, ip="10.0.0.9") as c:
        r = await c.post(f"/api/v1/invitations/{token}/accept", json={})
        assert r.status_code == 200, r.text


async def test_allowlists_are_per_tenant(client_from: ClientFactory, tenant: Tenant,
                                         other_tenant: Tenant) -> None:
    await add_entry(tenant, "10.0.0.0/8")
    await add_entry(other_tenant, "192.168.0.0/16")
    a, b = client_from("10.0.0.1"), client_from("192.168.0.1")
    assert (await a.get(ME, headers=tenant.headers)).status_code == 200
    assert_problem(await a.get(ME, headers=other_tenant.headers), 403, "ip_not_allowed")
    assert (await b.get(ME, headers=other_tenant.headers)).status_code == 200
    assert_problem(await b.get(ME, headers=tenant.headers), 403, "ip_not_allowed")


async def test_login_and_refresh_are_gated_before_the_secret_is_checked(
        client_from: ClientFactory, tenant: Tenant) -> None:
    """From outside the list, login gets the same 403 with a right or a wrong password (no
    session, no login event), and a refresh token is neither rotated nor spent."""
    password = "allowlist-login-pw"
    member = await tenant.add_user("member", password=password)
    inside, outside = client_from("10.0.0.5"), client_from("172.16.0.9")
    first = await inside.post("/api/v1/auth/login", json={
        "tenant": tenant.slug, "email": member.email, "password": password})
    assert first.status_code == 200, first.text
    refresh_token = first.json()["refresh_token"]
    await add_entry(tenant, "10.0.0.0/8")
    sessions = len(await tenant.sql("SELECT 1 FROM sessions"))
    for pw in (password, "wrong-password-123"):
        r = await outside.post("/api/v1/auth/login", json={
            "tenant": tenant.slug, "email": member.email, "password": pw})
        _refused(r, "172.16.0.9")
    r = await outside.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
    _refused(r, "172.16.0.9")
    assert len(await tenant.sql("SELECT 1 FROM sessions")) == sessions
    assert len(await audit_events(tenant, action="auth.login")) == 1  # the one from inside
    assert await audit_events(tenant, action="auth.login_failed") == []
    assert await audit_events(tenant, action="auth.refresh") == []
    assert len(await audit_events(tenant, action="ip_allowlist.denied")) == 1  # one a minute
    # an unknown tenant is still a plain 401, from anywhere
    r = await outside.post("/api/v1/auth/login", json={
        "tenant": "no-such-tenant", "email": member.email, "password": password})
    assert_problem(r, 401, "invalid_login")
    # the refresh token was not spent: it still works from inside, once
    r = await inside.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert r.status_code == 200, r.text
    r = await inside.post("/api/v1/auth/login", json={
        "tenant": tenant.slug, "email": member.email, "password": password})
    assert r.status_code == 200, r.text
