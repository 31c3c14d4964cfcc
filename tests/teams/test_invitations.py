"""Invitations: email over real SMTP, accept, expiry, revoke, resend, one tenant per token, the
tenant's gates on acceptance."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from app.core import clock
from app.core.errors import Forbidden, ProblemError
from app.core.runtime import Runtime
from app.core.tx import Freshness, own_tx
from app.email import sender
from app.teams.invitations.service import supersede_invitations
from app.teams.seats import ensure_seat_available
from tests.conftest import SmtpSink, Tenant, assert_problem, audit_events, bearer, runtime_with
from tests.teams.conftest import (
    create_project,
    create_team,
    invite,
    invite_token,
    outbox_tokens,
    token_in,
    unique_email,
)

PASSWORD = "correct horse battery staple"


def _accept_url(token: str) -> str:
    return f"/api/v1/invitations/{token}/accept"


async def test_invite_email_over_smtp_then_accept(client: httpx.AsyncClient, runtime: Runtime,
                                                  tenant: Tenant, smtp_sink: SmtpSink) -> None:
    """Invite -> the worker sends the email over real SMTP -> accept with the token taken from
    that email -> a member with the invited role, in the invited team, signed in."""
    team = await create_team(client, tenant, "Mobile")
    project = await create_project(client, tenant)
    await client.post(f"/api/v1/teams/{team['id']}/projects", headers=tenant.headers,
                      json={"project_id": project["id"]})
    email = unique_email(tenant, "dana")
    r = await client.post("/api/v1/invitations", headers=tenant.headers,
                          json={"email": email, "role": "viewer", "team_id": team["id"]})
    assert r.status_code == 201, r.text
    inv = r.json()
    assert (inv["email"], inv["role"], inv["team_id"], inv["team_name"], inv["status"]) == (
        email, "viewer", team["id"], "Mobile", "pending")
    assert "token" not in r.text and "dci_" not in r.text  # the link travels by email only
    stored = (await tenant.sql("SELECT token_hash, expires_at, created_at FROM invitations"))[0]
    assert len(bytes(stored["token_hash"])) == 32  # SHA-256, never the token
    assert stored["expires_at"] - stored["created_at"] == timedelta(days=7)

    # nothing is sent inside the request: the worker sends it after commit
    assert (await tenant.sql("SELECT status FROM email_outbox"))[0]["status"] == "pending"
    await sender.run_once(runtime_with(runtime, smtp_url=smtp_sink.url))
    msg = await smtp_sink.wait_for(email)
    assert msg["To"] == email
    assert msg["Subject"] == f"You are invited to join Tenant {tenant.slug} on Drift Cloud"
    body = msg.get_content()
    token = token_in(body)
    assert f"https://drift.test/invitations/{token}" in body
    assert "as a viewer, in the team Mobile" in body and tenant.owner.email in body
    assert (await tenant.sql("SELECT status FROM email_outbox"))[0]["status"] == "sent"

    r = await client.post(_accept_url(token), json={"name": "Dana", "password": PASSWORD})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["user"]["email"] == email and out["user"]["user_name"] == email
    assert out["user"]["name"] == "Dana" and out["user"]["role"] == "viewer"
    assert out["team_id"] == team["id"] and out["token_type"] == "bearer"
    assert out["refresh_token"].startswith("dcr_")

    # the returned session works, as the new viewer, on the team's project (read only)
    me = (await client.get("/api/v1/me", headers=bearer(out["access_token"]))).json()
    assert me["user"]["id"] == out["user"]["id"] and me["tenant"]["id"] == str(tenant.id)
    assert me["user"]["role"] == "viewer"
    session = bearer(out["access_token"])
    assert (await client.get(f"/api/v1/projects/{project['id']}", headers=session)
            ).status_code == 200
    assert (await client.patch(f"/api/v1/projects/{project['id']}", headers=session,
                               json={"name": "no"})).status_code == 403
    # ... and so does the password chosen on accept
    login = await client.post("/api/v1/auth/login", json={
        "tenant": tenant.slug, "email": email, "password": PASSWORD})
    assert login.status_code == 200

    members = (await client.get(f"/api/v1/teams/{team['id']}/members",
                                headers=tenant.headers)).json()["data"]
    assert [(m["email"], m["role"], m["tenant_role"]) for m in members] == [
        (email, "member", "viewer")]
    listed = (await client.get("/api/v1/invitations?status=all", headers=tenant.headers)).json()
    assert listed["data"][0]["status"] == "accepted"
    assert listed["data"][0]["accepted_user_id"] == out["user"]["id"]
    assert (await client.get("/api/v1/invitations", headers=tenant.headers)
            ).json()["data"] == []
    count = (await client.get("/api/v1/members/count", headers=tenant.headers)).json()
    assert (count["active"], count["pending_invites"]) == (2, 0)

    # a link works once
    again = await client.post(_accept_url(token), json={})
    assert again.status_code == 409 and again.json()["code"] == "invitation_already_accepted"

    events = {e["action"]: e for e in await audit_events(tenant)}
    assert events["invitation.create"]["resource_id"] == inv["id"]
    assert events["invitation.create"]["metadata"]["email"] == email
    accepted = events["invitation.accept"]
    assert accepted["actor_id"] == uuid.UUID(out["user"]["id"])
    assert accepted["actor_type"] == "user" and accepted["metadata"]["password_set"] is True
    joined = [e for e in await audit_events(tenant, action="team.member_add")]
    assert joined[-1]["metadata"]["via"] == "invitation"
    assert token not in str([dict(e) for e in await audit_events(tenant)])


async def test_expired_invitation_is_gone(client: httpx.AsyncClient, runtime: Runtime,
                                          tenant: Tenant) -> None:
    inv, token = await invite_token(client, runtime, tenant, ttl_seconds=60)
    assert inv["status"] == "pending"
    clock.advance(timedelta(seconds=61))
    r = await client.post(_accept_url(token), json={"name": "Late"})
    assert r.status_code == 410 and r.json()["code"] == "invitation_expired"
    assert await tenant.sql("SELECT 1 FROM users WHERE lower(email) = lower($1)",
                            inv["email"]) == []
    assert await audit_events(tenant, action="invitation.accept") == []
    # expired invitations are not pending and hold no seat
    assert (await client.get("/api/v1/invitations", headers=tenant.headers)
            ).json()["data"] == []
    expired = (await client.get("/api/v1/invitations?status=expired", headers=tenant.headers)
               ).json()["data"]
    assert [(i["id"], i["status"]) for i in expired] == [(inv["id"], "expired")]
    assert (await client.get("/api/v1/members/count", headers=tenant.headers)
            ).json()["pending_invites"] == 0

    # resend: new token and expiry, the old link is dead, the new one works
    r = await client.post(f"/api/v1/invitations/{inv['id']}/resend", headers=tenant.headers,
                          json={"ttl_seconds": 3600})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["sent_count"] == 2
    tokens = await outbox_tokens(runtime, tenant, inv["email"])
    assert len(tokens) == 2 and tokens[0] == token and tokens[1] != token
    old = await client.post(_accept_url(token), json={})
    assert old.status_code == 410 and old.json()["code"] == "invitation_superseded"
    assert (await client.post(_accept_url(tokens[1]), json={})).status_code == 200
    resend = (await audit_events(tenant, action="invitation.resend"))[0]
    assert resend["metadata"]["was_expired"] is True


async def test_revoked_unknown_and_malformed_links(client: httpx.AsyncClient, runtime: Runtime,
                                                   tenant: Tenant) -> None:
    inv, token = await invite_token(client, runtime, tenant)
    assert (await client.delete(f"/api/v1/invitations/{inv['id']}", headers=tenant.headers)
            ).status_code == 204
    r = await client.post(_accept_url(token), json={})
    assert r.status_code == 410 and r.json()["code"] == "invitation_revoked"
    again = await client.delete(f"/api/v1/invitations/{inv['id']}", headers=tenant.headers)
    assert again.status_code == 409 and again.json()["code"] == "invitation_revoked"
    resend = await client.post(f"/api/v1/invitations/{inv['id']}/resend",
                               headers=tenant.headers)
    assert resend.status_code == 409 and resend.json()["code"] == "invitation_revoked"
    for bogus in ("dci_" + secrets.token_urlsafe(32), "not-a-token", "dck_" + "a" * 43):
        r = await client.post(_accept_url(bogus), json={})
        assert r.status_code == 404 and r.json()["code"] == "invitation_not_found", bogus
    assert (await client.post(_accept_url("dci_" + "x" * 200), json={})).status_code == 422
    assert (await client.delete(f"/api/v1/invitations/{uuid.uuid4()}", headers=tenant.headers)
            ).status_code == 404
    # accepted invitations can be neither revoked nor resent
    inv2, token2 = await invite_token(client, runtime, tenant)
    assert (await client.post(_accept_url(token2))).status_code == 200  # no body at all
    for method, path in (("DELETE", ""), ("POST", "/resend")):
        r = await client.request(method, f"/api/v1/invitations/{inv2['id']}{path}",
                                 headers=tenant.headers)
        assert r.status_code == 409 and r.json()["code"] == "invitation_already_accepted"


async def test_one_pending_invitation_per_address(client: httpx.AsyncClient, runtime: Runtime,
                                                  tenant: Tenant) -> None:
    h = tenant.headers
    email = unique_email(tenant)
    first = await invite(client, tenant, email)
    dup = await client.post("/api/v1/invitations", headers=h, json={"email": email.upper()})
    assert dup.status_code == 409 and dup.json()["code"] == "invitation_exists"
    assert dup.json()["invitation_id"] == first["id"]
    member = await tenant.add_user("member")
    taken = await client.post("/api/v1/invitations", headers=h, json={"email": member.email})
    assert taken.status_code == 409 and taken.json()["code"] == "already_member"
    assert len(await tenant.sql("SELECT 1 FROM invitations")) == 1
    assert len(await tenant.sql("SELECT 1 FROM email_outbox")) == 1
    # once revoked (or expired), the address can be invited again
    await client.delete(f"/api/v1/invitations/{first['id']}", headers=h)
    second = await invite(client, tenant, email)
    clock.advance(timedelta(days=8))
    third = await invite(client, tenant, email)
    # resending the expired one would make two pending invitations for one address
    r = await client.post(f"/api/v1/invitations/{second['id']}/resend", headers=h)
    assert r.status_code == 409 and r.json()["code"] == "invitation_exists"
    listed = (await client.get("/api/v1/invitations?status=all", headers=h)).json()["data"]
    assert [(i["id"], i["status"]) for i in listed] == [
        (first["id"], "revoked"), (second["id"], "expired"), (third["id"], "pending")]


async def test_accept_reactivates_a_deactivated_member(client: httpx.AsyncClient,
                                                       runtime: Runtime,
                                                       tenant: Tenant) -> None:
    h = tenant.headers
    old = await tenant.add_user("admin", name="Old Name", password=PASSWORD)
    team = await create_team(client, tenant)
    await client.post(f"/api/v1/teams/{team['id']}/members", headers=h,
                      json={"user_id": str(old.id)})
    assert (await client.delete(f"/api/v1/members/{old.id}", headers=h)).status_code == 204
    _, token = await invite_token(client, runtime, tenant, old.email.upper(), role="member",
                                  team_id=team["id"])
    r = await client.post(_accept_url(token), json={})
    assert r.status_code == 200, r.text
    out = r.json()
    # the same user, active again, with the invited role; name and password kept
    assert out["user"]["id"] == str(old.id) and out["user"]["role"] == "member"
    assert out["user"]["name"] == "Old Name" and out["team_id"] == team["id"]
    row = (await tenant.sql("SELECT active, deprovisioned_at FROM users WHERE id = $1",
                            old.id))[0]
    assert row["active"] and row["deprovisioned_at"] is None
    assert (await client.post("/api/v1/auth/login", json={
        "tenant": tenant.slug, "email": old.email, "password": PASSWORD})).status_code == 200
    # credentials revoked at removal stay revoked
    assert_problem(await client.get("/api/v1/me", headers=old.headers), 401, "credential_revoked")
    assert len(await tenant.sql("SELECT 1 FROM team_memberships WHERE user_id = $1",
                                old.id)) == 1
    accept = (await audit_events(tenant, action="invitation.accept"))[0]
    assert accept["metadata"]["reactivated"] is True
    assert await audit_events(tenant, action="team.member_add") != []


async def test_a_token_only_ever_enters_its_own_tenant(client: httpx.AsyncClient,
                                                       runtime: Runtime, tenant: Tenant,
                                                       other_tenant: Tenant) -> None:
    """The accept route's path names a token, not a tenant resource: whichever way it is
    used, it can only create a member of, and sign into, the tenant that issued it."""
    email = f"shared-{secrets.token_hex(4)}@example.com"
    a_inv, a_token = await invite_token(client, runtime, tenant, email)
    b_inv, b_token = await invite_token(client, runtime, other_tenant, email)
    # other credentials on the request change nothing
    r = await client.post(_accept_url(a_token), headers=other_tenant.headers, json={})
    assert r.status_code == 200
    a_user = r.json()["user"]
    me = (await client.get("/api/v1/me", headers=bearer(r.json()["access_token"]))).json()
    assert me["tenant"]["id"] == str(tenant.id)
    assert len(await tenant.sql("SELECT 1 FROM users WHERE email = $1", email)) == 1
    assert await other_tenant.sql("SELECT 1 FROM users WHERE email = $1", email) == []
    assert (await other_tenant.sql("SELECT accepted_at FROM invitations"))[0][0] is None
    # the other tenant's invitation to the same address is untouched and works on its own
    r = await client.post(_accept_url(b_token), json={})
    assert r.status_code == 200
    assert r.json()["user"]["id"] != a_user["id"]
    me = (await client.get("/api/v1/me", headers=bearer(r.json()["access_token"]))).json()
    assert me["tenant"]["id"] == str(other_tenant.id)
    # a token's id is no use to another tenant's admin either
    for inv, t in ((a_inv, other_tenant), (b_inv, tenant)):
        r = await client.post(f"/api/v1/invitations/{inv['id']}/resend", headers=t.headers)
        assert_problem(r, 404, "invitation_not_found")


async def test_the_tenants_ip_allowlist_applies_to_accept(client: httpx.AsyncClient,
                                                          runtime: Runtime, tenant: Tenant,
                                                          other_tenant: Tenant) -> None:
    """Acceptance runs the tenant's checks right after resolving the token, before any other
    work: a refused address gets the check's 403, even for an expired link, and nothing
    changes."""
    seen: list[Any] = []

    async def refuse(request: Request, rt: Runtime, tenant_id: uuid.UUID,
                     freshness: Freshness | None) -> None:
        assert freshness is None  # acceptance enters no request transaction to prove a cache
        seen.append(tenant_id)
        if tenant_id == tenant.id:
            raise Forbidden("Your address is not on the allowlist.", code="ip_not_allowed")

    inv, token = await invite_token(client, runtime, tenant, ttl_seconds=60)
    _, other_token = await invite_token(client, runtime, other_tenant)
    runtime.tenant_checks.append(refuse)
    try:
        r = await client.post(_accept_url(token), json={"name": "Blocked"})
        assert r.status_code == 403 and r.json()["code"] == "ip_not_allowed"
        clock.advance(timedelta(seconds=61))
        r = await client.post(_accept_url(token), json={})
        assert_problem(r, 403, "ip_not_allowed")  # the gate comes before the expiry check
        assert (await client.post(_accept_url(other_token), json={})).status_code == 200
        # an unknown token names no tenant: 404 before any check
        assert_problem(await client.post(_accept_url("dci_" + secrets.token_urlsafe(32))),
                       404, "invitation_not_found")
    finally:
        runtime.tenant_checks.remove(refuse)
    assert seen == [tenant.id, tenant.id, other_tenant.id]
    assert (await tenant.sql("SELECT accepted_at FROM invitations"))[0][0] is None
    assert await tenant.sql("SELECT 1 FROM users WHERE email = $1", inv["email"]) == []


async def test_invitation_input_and_roles(client: httpx.AsyncClient, tenant: Tenant,
                                          runtime: Runtime) -> None:
    h = tenant.headers
    email = unique_email(tenant)
    for body in ({"email": email, "ttl_seconds": 59}, {"email": email, "ttl_seconds": 2592001},
                 {"email": email, "role": "owner"}, {"email": "not-an-email"},
                 {"email": email, "extra": True}, {}):
        r = await client.post("/api/v1/invitations", headers=h, json=body)
        assert_problem(r, 422, "validation_error", context=body)
    r = await client.post("/api/v1/invitations", headers=h,
                          json={"email": email, "team_id": str(uuid.uuid4())})
    assert r.status_code == 404 and r.json()["code"] == "team_not_found"
    for role in ("member", "viewer"):
        user = await tenant.add_user(role)
        for method, path in (("POST", "/api/v1/invitations"), ("GET", "/api/v1/invitations")):
            r = await client.request(method, path, headers=user.headers,
                                     json={"email": email} if method == "POST" else None)
            assert_problem(r, 403, "insufficient_role", context=(role, method))
    assert await tenant.sql("SELECT 1 FROM invitations") == []
    # an admin may invite, admins included; the longest and shortest lifetimes are accepted
    admin = await tenant.add_user("admin")
    r = await client.post("/api/v1/invitations", headers=admin.headers,
                          json={"email": email, "role": "admin", "ttl_seconds": 2592000})
    assert r.status_code == 201 and r.json()["invited_by"] == str(admin.id)
    inv, token = await invite_token(client, runtime, tenant, ttl_seconds=60)
    short = await client.post(_accept_url(token), json={"password": "too short"})
    assert_problem(short, 422, "validation_error")
    assert (await tenant.sql("SELECT accepted_at FROM invitations WHERE id = $1",
                             uuid.UUID(inv["id"])))[0][0] is None


async def test_pending_list_pages(client: httpx.AsyncClient, tenant: Tenant) -> None:
    ids = [(await invite(client, tenant))["id"] for _ in range(5)]
    first = (await client.get("/api/v1/invitations?limit=3", headers=tenant.headers)).json()
    assert first["pagination"] == {"cursor": first["pagination"]["cursor"], "has_more": True,
                                   "total": 5}
    rest = (await client.get(f"/api/v1/invitations?limit=3&cursor="
                             f"{first['pagination']['cursor']}", headers=tenant.headers)).json()
    assert [i["id"] for i in first["data"] + rest["data"]] == ids
    assert not rest["pagination"]["has_more"]


async def test_scim_provisioning_releases_a_pending_invitation(
        client: httpx.AsyncClient, runtime: Runtime, make_tenant: Any) -> None:
    """What SCIM calls when the IdP creates a user whose address has a pending invitation:
    the invitation is revoked (audited) so it frees its seat for the provisioned user."""
    t: Tenant = await make_tenant(seat_limit=2)
    inv, token = await invite_token(client, runtime, t)  # 2/2
    async with own_tx(t.rt.db, t.id) as tx:
        with pytest.raises(ProblemError) as exc:
            await ensure_seat_available(tx)
        assert exc.value.code == "seat_limit_exceeded"
    async with own_tx(t.rt.db, t.id) as tx:
        done = await supersede_invitations(tx, [inv["email"].upper()],
                                           reason="provisioned_by_scim")
        await done.audit(tx)
        assert len(done.rows) == 1
        await ensure_seat_available(tx)  # the seat is free now
        again = await supersede_invitations(tx, [inv["email"]], reason="again")
        assert again.rows == []
    r = await client.post(_accept_url(token), json={})
    assert r.status_code == 410 and r.json()["code"] == "invitation_revoked"
    event = (await audit_events(t, action="invitation.revoke"))[0]
    assert event["metadata"]["reason"] == "provisioned_by_scim"
    assert event["resource_id"] == inv["id"]


async def test_one_mailbox_is_one_address_whatever_the_domain_spelling(
        client: httpx.AsyncClient, runtime: Runtime, make_tenant: Any) -> None:
    """user@exämple.com and user@xn--exmple-cua.com are one mailbox: one invitation, one
    member, one seat; the member signs in with either spelling."""
    t: Tenant = await make_tenant(seat_limit=3)
    inv, token = await invite_token(client, runtime, t, "user@exämple.com")
    assert inv["email"] == "user@xn--exmple-cua.com"
    r = await client.post("/api/v1/invitations", headers=t.headers,
                          json={"email": "USER@XN--EXMPLE-CUA.COM", "role": "member"})
    assert r.status_code == 409 and r.json()["code"] == "invitation_exists"
    r = await client.post(_accept_url(token), json={"password": PASSWORD})
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/invitations", headers=t.headers,
                          json={"email": "user@EXÄMPLE.com", "role": "member"})
    assert r.status_code == 409 and r.json()["code"] == "already_member"
    count = (await client.get("/api/v1/members/count", headers=t.headers)).json()
    assert (count["active"], count["pending_invites"]) == (2, 0)
    for spelling in ("user@exämple.com", "User@xn--exmple-cua.com", "user@EXÄMPLE.COM"):
        r = await client.post("/api/v1/auth/login", json={"tenant": t.slug, "email": spelling,
                                                          "password": PASSWORD})
        assert r.status_code == 200, (spelling, r.text)
