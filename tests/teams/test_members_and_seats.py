"""Members and seats: the list, role changes, removal, and the seat limit on every path that
takes a seat (invitation, resend of an expired one, accept)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.auth.service import deprovision_user
from app.core import clock
from app.core.errors import Conflict
from app.core.runtime import Runtime
from app.core.tx import own_tx
from tests.conftest import Tenant, assert_problem, audit_events
from tests.teams.conftest import create_team, invite, invite_token, outbox_tokens, unique_email


async def _count(client: httpx.AsyncClient, t: Tenant) -> dict[str, Any]:
    r = await client.get("/api/v1/members/count", headers=t.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _state(t: Tenant) -> tuple[int, int, int, int]:
    """Everything an invitation writes: invitations, queued email, audit events, users."""
    return (len(await t.sql("SELECT 1 FROM invitations")),
            len(await t.sql("SELECT 1 FROM email_outbox")),
            len(await t.sql("SELECT 1 FROM audit_events")),
            len(await t.sql("SELECT 1 FROM users")))


async def test_seat_limit_counts_active_members_and_pending_invitations(
        client: httpx.AsyncClient, make_tenant: Any) -> None:
    """seat_limit 5 with 4 active: an invitation fits (5/5); the next one gets 402 and
    nothing is written."""
    t: Tenant = await make_tenant(seat_limit=5)
    for _ in range(3):
        await t.add_user("member")
    assert await _count(client, t) == {"active": 4, "pending_invites": 0, "seat_limit": 5,
                                       "remaining": 1}
    first = await invite(client, t)
    assert await _count(client, t) == {"active": 4, "pending_invites": 1, "seat_limit": 5,
                                       "remaining": 0}
    before = await _state(t)
    r = await client.post("/api/v1/invitations", headers=t.headers,
                          json={"email": unique_email(t)})
    assert r.status_code == 402, r.text
    problem = r.json()
    assert problem["code"] == "seat_limit_exceeded"
    assert (problem["seat_limit"], problem["active"], problem["pending_invites"]) == (5, 4, 1)
    assert r.headers["content-type"] == "application/problem+json"
    assert await _state(t) == before  # nothing written: no invitation, email or audit event
    assert (await _count(client, t))["remaining"] == 0

    # revoking frees the pending seat; removing a member frees an active one
    await client.delete(f"/api/v1/invitations/{first['id']}", headers=t.headers)
    assert (await _count(client, t))["remaining"] == 1
    await invite(client, t)
    member = t.users[0]
    assert (await client.delete(f"/api/v1/members/{member.id}", headers=t.headers)
            ).status_code == 204
    assert await _count(client, t) == {"active": 3, "pending_invites": 1, "seat_limit": 5,
                                       "remaining": 1}
    await invite(client, t)


async def test_unlimited_seats(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for _ in range(3):
        await invite(client, tenant)
    assert await _count(client, tenant) == {"active": 1, "pending_invites": 3,
                                            "seat_limit": None, "remaining": None}


async def test_accept_and_resend_respect_the_limit(client: httpx.AsyncClient, runtime: Runtime,
                                                   make_tenant: Any) -> None:
    t: Tenant = await make_tenant(seat_limit=3)
    await t.add_user("member")
    inv, token = await invite_token(client, runtime, t, ttl_seconds=60)  # 3/3
    # accepting turns the pending seat into an active one: still 3/3, allowed
    # ... unless the plan shrank meanwhile: then the accept is refused and changes nothing
    await t.sql("UPDATE tenants SET seat_limit = 2")
    r = await client.post(f"/api/v1/invitations/{token}/accept", json={"name": "Over"})
    assert r.status_code == 402 and r.json()["code"] == "seat_limit_exceeded"
    assert await t.sql("SELECT 1 FROM users WHERE email = $1", inv["email"]) == []
    assert (await t.sql("SELECT accepted_at FROM invitations"))[0][0] is None
    await t.sql("UPDATE tenants SET seat_limit = 3")
    # an expired invitation holds no seat; resending it takes one again
    clock.advance(timedelta(seconds=61))
    other = await invite(client, t)  # 3/3 again
    r = await client.post(f"/api/v1/invitations/{inv['id']}/resend", headers=t.headers)
    assert r.status_code == 402 and r.json()["code"] == "seat_limit_exceeded"
    assert len(await t.sql("SELECT 1 FROM email_outbox WHERE to_address = $1",
                           inv["email"])) == 1
    # resending a pending invitation takes no new seat
    r = await client.post(f"/api/v1/invitations/{other['id']}/resend", headers=t.headers)
    assert r.status_code == 200
    tokens = await outbox_tokens(runtime, t, other["email"])
    assert len(tokens) == 2
    assert (await _count(client, t))["remaining"] == 0
    # at 3/3, accepting is allowed: the pending seat becomes an active one
    r = await client.post(f"/api/v1/invitations/{tokens[-1]}/accept", json={})
    assert r.status_code == 200, r.text
    assert await _count(client, t) == {"active": 3, "pending_invites": 0, "seat_limit": 3,
                                       "remaining": 0}


async def test_members_list(client: httpx.AsyncClient, tenant: Tenant) -> None:
    h = tenant.headers
    admin = await tenant.add_user("admin", name="Ada")
    viewer = await tenant.add_user("viewer")
    gone = await tenant.add_user("member")
    await client.delete(f"/api/v1/members/{gone.id}", headers=h)
    team_b = await create_team(client, tenant, "beta")
    team_a = await create_team(client, tenant, "Alpha")
    for team, role in ((team_b, "member"), (team_a, "lead")):
        await client.post(f"/api/v1/teams/{team['id']}/members", headers=h,
                          json={"user_id": str(admin.id), "role": role})
    await client.get("/api/v1/me", headers=admin.headers)  # some activity

    r = await client.get("/api/v1/members", headers=h)
    assert r.status_code == 200
    page = r.json()
    assert page["pagination"]["total"] == 4
    by_id = {m["user"]["id"]: m for m in page["data"]}
    ada = by_id[str(admin.id)]
    assert ada["user"] == {"id": str(admin.id), "email": admin.email, "user_name": admin.email,
                           "name": "Ada"}
    assert ada["role"] == "admin" and ada["status"] == "active"
    assert ada["last_active_at"] is not None
    assert ada["teams"] == [{"id": team_a["id"], "name": "Alpha", "role": "lead"},
                            {"id": team_b["id"], "name": "beta", "role": "member"}]
    assert by_id[str(viewer.id)]["teams"] == [] and by_id[str(viewer.id)]["role"] == "viewer"
    assert by_id[str(gone.id)]["status"] == "deactivated"
    assert by_id[str(gone.id)]["deactivated_at"] is not None
    assert by_id[str(tenant.owner.id)]["role"] == "owner"

    active = (await client.get("/api/v1/members?status=active", headers=h)).json()
    assert active["pagination"]["total"] == 3
    admins = (await client.get("/api/v1/members?role=admin", headers=h)).json()
    assert [m["user"]["id"] for m in admins["data"]] == [str(admin.id)]
    seen, cursor = [], None
    while True:
        url = "/api/v1/members?limit=3" + (f"&cursor={cursor}" if cursor else "")
        p = (await client.get(url, headers=h)).json()
        seen += [m["user"]["id"] for m in p["data"]]
        if not p["pagination"]["has_more"]:
            break
        cursor = p["pagination"]["cursor"]
    assert seen == [m["user"]["id"] for m in page["data"]]
    one = await client.get(f"/api/v1/members/{admin.id}", headers=h)
    assert one.status_code == 200 and one.json() == ada | {"last_active_at":
                                                           one.json()["last_active_at"]}
    assert_problem(await client.get(f"/api/v1/members/{uuid.uuid4()}", headers=h),
                   404, "user_not_found")
    # members and viewers see no member directory or seat data
    for user in (viewer,):
        for path in ("/api/v1/members", "/api/v1/members/count", f"/api/v1/members/{admin.id}"):
            assert_problem(await client.get(path, headers=user.headers), 403, "insufficient_role")
    assert_problem(await client.get("/api/v1/members?status=gone", headers=h),
                   422, "validation_error")


async def test_role_changes(client: httpx.AsyncClient, tenant: Tenant) -> None:
    h = tenant.headers
    user = await tenant.add_user("member")
    # the user cannot administer yet
    assert (await client.post("/api/v1/teams", headers=user.headers, json={"name": "x"})
            ).status_code == 403
    r = await client.patch(f"/api/v1/members/{user.id}", headers=h, json={"role": "admin"})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    # takes effect on the very next request with the same API key
    assert (await client.post("/api/v1/teams", headers=user.headers, json={"name": "x"})
            ).status_code == 201
    # an admin can change others, but never make or unmake the owner
    other = await tenant.add_user("viewer")
    assert (await client.patch(f"/api/v1/members/{other.id}", headers=user.headers,
                               json={"role": "member"})).status_code == 200
    for target, role in ((tenant.owner.id, "admin"), (tenant.owner.id, "viewer"),
                         (other.id, "owner"), (user.id, "owner")):
        for caller in (h, user.headers):
            r = await client.patch(f"/api/v1/members/{target}", headers=caller,
                                   json={"role": role})
            assert r.status_code == 409 and r.json()["code"] == "owner_protected"
            assert "transfer-ownership" in r.json()["detail"]
    same = await client.patch(f"/api/v1/members/{other.id}", headers=h, json={"role": "member"})
    assert same.status_code == 200  # no change, no event
    assert_problem(await client.patch(f"/api/v1/members/{uuid.uuid4()}", headers=h,
                               json={"role": "admin"}), 404, "user_not_found")
    assert_problem(await client.patch(f"/api/v1/members/{other.id}", headers=h,
                               json={"role": "god"}), 422, "validation_error")
    assert_problem(await client.patch(f"/api/v1/members/{user.id}", headers=other.headers,
                               json={"role": "viewer"}), 403, "insufficient_role")
    events = await audit_events(tenant, action="member.role_change")
    assert [(e["resource_id"], e["metadata"]["role"]) for e in events] == [
        (str(user.id), {"from": "member", "to": "admin"}),
        (str(other.id), {"from": "viewer", "to": "member"})]
    assert all(e["resource_type"] == "user" for e in events)
    roles = {r["id"]: r["role"] for r in await tenant.sql("SELECT id, role FROM users")}
    assert roles[tenant.owner.id] == "owner" and roles[other.id] == "member"


async def test_remove_member_revokes_everything(client: httpx.AsyncClient, tenant: Tenant
                                                ) -> None:
    h = tenant.headers
    user = await tenant.add_user("member", password="remove-me-please-1")
    login = (await client.post("/api/v1/auth/login", json={
        "tenant": tenant.slug, "email": user.email, "password": "remove-me-please-1"})).json()
    assert (await client.get("/api/v1/me", headers=user.headers)).status_code == 200
    assert (await client.delete(f"/api/v1/members/{user.id}", headers=h)).status_code == 204
    assert_problem(await client.get("/api/v1/me", headers=user.headers), 401, "credential_revoked")
    assert_problem(await client.get("/api/v1/me", headers={
        "Authorization": f"Bearer {login['access_token']}"}), 401, "session_revoked")
    assert_problem(await client.post("/api/v1/auth/refresh", json={
        "refresh_token": login["refresh_token"]}), 401, "invalid_refresh_token")
    row = (await tenant.sql("SELECT active FROM users WHERE id = $1", user.id))[0]
    assert row["active"] is False
    assert await tenant.sql("SELECT 1 FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL",
                            user.id) == []
    removed = (await audit_events(tenant, action="member.remove"))[0]
    assert removed["resource_id"] == str(user.id) and removed["metadata"]["was_active"] is True
    assert removed["metadata"]["api_keys_revoked"] == 1
    deprov = (await audit_events(tenant, action="user.deprovisioned"))[0]
    assert deprov["metadata"]["source"] == "members_api"
    events = await tenant.sql("SELECT data FROM outbox_events WHERE type = 'user.deprovisioned'")
    assert events[0]["data"]["user_id"] == str(user.id)
    # removing again is harmless; an unknown id is 404; members cannot remove anyone
    assert (await client.delete(f"/api/v1/members/{user.id}", headers=h)).status_code == 204
    assert_problem(await client.delete(f"/api/v1/members/{uuid.uuid4()}", headers=h),
                   404, "user_not_found")
    member = await tenant.add_user("member")
    assert_problem(await client.delete(f"/api/v1/members/{member.id}", headers=member.headers),
                   403, "insufficient_role")


async def test_the_owner_cannot_be_removed_demoted_or_deactivated(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    admin = await tenant.add_user("admin")
    for headers in (tenant.headers, admin.headers):
        r = await client.delete(f"/api/v1/members/{tenant.owner.id}", headers=headers)
        assert r.status_code == 409 and r.json()["code"] == "owner_protected"
    # the deprovisioning SCIM uses refuses as well
    async with own_tx(tenant.rt.db, tenant.id) as tx:
        with pytest.raises(Conflict) as exc:
            await deprovision_user(tx, tenant.owner.id, source="scim")
    assert exc.value.code == "owner_protected"
    row = (await tenant.sql("SELECT role, active FROM users WHERE id = $1", tenant.owner.id))[0]
    assert (row["role"], row["active"]) == ("owner", True)
    assert (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 200


async def test_concurrent_invitations_cannot_overbook(client: httpx.AsyncClient,
                                                      make_tenant: Any) -> None:
    """Seat-consuming requests serialise on the tenant row: of many invitations racing for the
    last seat exactly one wins; of many racing invitations to one address, exactly one."""
    t: Tenant = await make_tenant(seat_limit=3)
    await t.add_user("member")  # 2 of 3 seats used
    racing = await asyncio.gather(*[
        client.post("/api/v1/invitations", headers=t.headers, json={"email": unique_email(t)})
        for _ in range(6)])
    assert sorted(r.status_code for r in racing) == [201] + [402] * 5
    assert await _count(client, t) == {"active": 2, "pending_invites": 1, "seat_limit": 3,
                                       "remaining": 0}
    u: Tenant = await make_tenant()
    email = unique_email(u)
    racing = await asyncio.gather(*[
        client.post("/api/v1/invitations", headers=u.headers, json={"email": email})
        for _ in range(6)])
    assert sorted(r.status_code for r in racing) == [201] + [409] * 5
    assert len(await u.sql("SELECT 1 FROM invitations")) == 1
