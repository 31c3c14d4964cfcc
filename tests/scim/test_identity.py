"""Identity over SCIM: provisioning supersedes invitations to the same person (issue 23), the
owner's sign-in identity is read-only to SCIM unless the owner lets the IdP manage it, and
both spellings of an internationalised domain are one address (issue 24)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from app.core.runtime import Runtime
from app.email import sender
from tests.conftest import SmtpSink, Tenant, assert_problem, audit_events, runtime_with
from tests.scim.conftest import USER_URN, MakeScim, Scim, assert_scim_error
from tests.teams.conftest import invite, invite_token

PASSWORD = "owner-password-for-identity"
UNICODE = "exämple.com"
PUNYCODE = "xn--exmple-cua.com"


def _accept_url(token: str) -> str:
    return f"/api/v1/invitations/{token}/accept"


async def _login(client: httpx.AsyncClient, t: Tenant, email: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login",
                             json={"tenant": t.slug, "email": email, "password": PASSWORD})


async def _invitation(client: httpx.AsyncClient, t: Tenant, inv_id: str) -> dict[str, Any]:
    r = await client.get("/api/v1/invitations?status=all&limit=200", headers=t.headers)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = next(i for i in r.json()["data"] if i["id"] == inv_id)
    return found


# ---- issue 23: provisioning supersedes the person's invitations ----

async def test_scim_provisions_the_person_whose_invitation_holds_the_last_seat(
        client: httpx.AsyncClient, runtime: Runtime, make_tenant: Any,
        make_scim: MakeScim) -> None:
    t: Tenant = await make_tenant(seat_limit=2)  # the owner and one seat
    # invited in one spelling, provisioned by the IdP in another (case, Unicode domain)
    inv, token = await invite_token(client, runtime, t, f"Alice@{UNICODE.upper()}")
    assert inv["email"] == f"Alice@{PUNYCODE}"
    scim = await make_scim(t)

    r = await scim.post("/Users", {"schemas": [USER_URN], "userName": f"alice@{UNICODE}",
                                   "emails": [{"value": f"alice@{UNICODE}", "primary": True}]})
    assert r.status_code == 201, r.text  # was 402: the seat was held by her own invitation
    user_id = r.json()["id"]
    assert r.json()["userName"] == f"alice@{PUNYCODE}"

    gone = await _invitation(client, t, inv["id"])
    assert gone["status"] == "revoked" and gone["revoked_reason"] == "superseded_by_scim"
    count = (await client.get("/api/v1/members/count", headers=t.headers)).json()
    assert count == {"active": 2, "pending_invites": 0, "seat_limit": 2, "remaining": 0}
    revoked = await audit_events(t, action="invitation.revoke")
    assert [str(e["resource_id"]) for e in revoked] == [inv["id"]]
    assert revoked[0]["metadata"]["reason"] == "superseded_by_scim"
    assert revoked[0]["metadata"]["user_id"] == user_id
    assert revoked[0]["actor_type"] == "scim"

    # the link is dead: it cannot make a second account
    r = await client.post(_accept_url(token), json={"password": "a-long-enough-password"})
    assert r.status_code == 410 and r.json()["code"] == "invitation_revoked"
    assert r.json()["reason"] == "superseded_by_scim"
    assert len(await t.sql("SELECT id FROM users")) == 2


async def test_scim_reactivation_supersedes_the_persons_invitation(
        client: httpx.AsyncClient, runtime: Runtime, make_tenant: Any,
        make_scim: MakeScim) -> None:
    t: Tenant = await make_tenant(seat_limit=2)
    scim = await make_scim(t)
    bob = await scim.create_user(f"bob@{t.slug}.example",
                                 emails=[{"value": f"bob@{t.slug}.example", "primary": True}])
    off = await scim.patch(f"/Users/{bob['id']}",
                           scim.ops({"op": "replace", "value": {"active": False}}))
    assert off.status_code == 200, off.text
    inv = await invite(client, t, f"BOB@{t.slug}.example")  # the free seat is now pending

    on = await scim.patch(f"/Users/{bob['id']}",
                          scim.ops({"op": "replace", "value": {"active": True}}))
    assert on.status_code == 200, on.text  # was 402
    assert on.json()["active"] is True
    assert (await _invitation(client, t, inv["id"]))["revoked_reason"] == "superseded_by_scim"
    events = [e["action"] for e in await audit_events(t)]
    assert events.index("user.reactivated") < events.index("invitation.revoke")


async def test_a_refused_provisioning_keeps_the_invitation(
        client: httpx.AsyncClient, make_tenant: Any, make_scim: MakeScim) -> None:
    """The revocation is part of the create's transaction: a create that fails changes
    nothing, so the invitation stays pending."""
    t: Tenant = await make_tenant(seat_limit=3)
    existing = await t.add_user("member")
    inv = await invite(client, t, f"dave@{t.slug}.example")
    scim = await make_scim(t)
    r = await scim.post("/Users", {"schemas": [USER_URN], "userName": existing.email,
                                   "emails": [{"value": inv["email"], "primary": True}]})
    assert_scim_error(r, 409, "uniqueness")
    assert (await _invitation(client, t, inv["id"]))["status"] == "pending"
    assert await audit_events(t, action="invitation.revoke") == []


# ---- issue 24: the owner's identity ----

async def _owner_resource(scim: Scim, t: Tenant) -> dict[str, Any]:
    r = await scim.get(f"/Users/{t.owner.id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_scim_cannot_take_over_the_owners_sign_in_identity(
        client: httpx.AsyncClient, make_tenant: Any, make_scim: MakeScim) -> None:
    t: Tenant = await make_tenant(owner_password=PASSWORD)
    admin = await t.add_user("admin")
    token = await client.post("/api/v1/settings/scim", headers=admin.headers, json={})
    assert token.status_code == 201, token.text
    scim = Scim(client, t, token.json()["token"], token.json()["id"])
    before = await _owner_resource(scim, t)
    evil = "attacker@evil.example"

    r = await scim.patch(f"/Users/{t.owner.id}", scim.ops(
        {"op": "replace", "path": "userName", "value": evil},
        {"op": "replace", "path": "emails[primary eq true].value", "value": evil}))
    assert_scim_error(r, 400, "mutability")
    assert "owner-identity" in r.json()["detail"]
    put = {k: v for k, v in before.items() if k not in ("meta", "groups")}
    r = await scim.put(f"/Users/{t.owner.id}", {**put, "userName": evil,
                                                "emails": [{"value": evil, "primary": True}]})
    assert_scim_error(r, 400, "mutability")
    r = await scim.patch(f"/Users/{t.owner.id}", scim.ops(
        {"op": "add", "path": "externalId", "value": "idp-user-of-the-attacker"}))
    assert_scim_error(r, 400, "mutability")
    r = await scim.post("/Bulk", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "PATCH", "path": f"/Users/{t.owner.id}", "data": scim.ops(
            {"op": "replace", "value": {"userName": evil}})}]})
    assert r.status_code == 200, r.text
    op = r.json()["Operations"][0]
    assert op["status"] == "400" and op["response"]["scimType"] == "mutability"

    assert await _owner_resource(scim, t) == before  # nothing written
    assert (await _login(client, t, t.owner.email)).status_code == 200
    assert_problem(await _login(client, t, evil), 401, "invalid_login")
    assert await t.sql("SELECT id FROM email_outbox WHERE kind = 'owner_email_changed'") == []


async def test_the_owners_unchanged_identity_passes_through_full_resource_writes(
        scim: Scim, tenant: Tenant) -> None:
    """IdPs send the whole resource: the owner's own values (another case, a type on the
    email) are no change, and the rest of the profile is written."""
    r = await scim.put(f"/Users/{tenant.owner.id}", {
        "schemas": [USER_URN], "id": str(tenant.owner.id), "userName": tenant.owner.email.upper(),
        "displayName": "The Owner", "active": True,
        "emails": [{"value": tenant.owner.email, "type": "work", "primary": True}]})
    assert r.status_code == 200, r.text
    assert r.json()["displayName"] == "The Owner"
    r = await scim.patch(f"/Users/{tenant.owner.id}", scim.ops(
        {"op": "replace", "path": "title", "value": "Founder"},
        {"op": "replace", "path": "userName", "value": tenant.owner.email.upper()}))
    assert r.status_code == 200, r.text and r.json()["title"] == "Founder"


async def test_only_the_owner_lets_the_idp_manage_the_owner_identity(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    admin = await tenant.add_user("admin")
    url = "/api/v1/settings/owner-identity"
    assert (await client.get(url, headers=admin.headers)).json()["managed_by_idp"] is False
    r = await client.put(url, headers=admin.headers, json={"managed_by_idp": True})
    assert r.status_code == 403 and r.json()["code"] == "insufficient_role"
    assert (await client.get(url, headers=admin.headers)).json()["managed_by_idp"] is False
    r = await client.put(url, headers=tenant.headers, json={"managed_by_idp": True})
    assert r.status_code == 200 and r.json()["managed_by_idp"] is True
    events = await audit_events(tenant, action="tenant.owner_identity_update")
    assert [e["metadata"]["managed_by_idp"] for e in events] == [{"from": False, "to": True}]
    assert str(events[0]["actor_id"]) == str(tenant.owner.id)
    # a transfer resets it: the new owner has not agreed
    r = await client.post("/api/v1/settings/transfer-ownership", headers=tenant.headers,
                          json={"new_owner_id": str(admin.id)})
    assert r.status_code == 200, r.text
    assert (await client.get(url, headers=admin.headers)).json()["managed_by_idp"] is False


async def test_with_the_owners_consent_scim_changes_the_email_and_the_old_address_hears(
        client: httpx.AsyncClient, runtime: Runtime, make_tenant: Any, make_scim: MakeScim,
        smtp_sink: SmtpSink) -> None:
    t: Tenant = await make_tenant(owner_password=PASSWORD)
    scim = await make_scim(t)
    r = await client.put("/api/v1/settings/owner-identity", headers=t.headers,
                         json={"managed_by_idp": True})
    assert r.status_code == 200, r.text
    new = f"owner.renamed-{uuid.uuid4().hex[:6]}@{t.slug}.example"

    r = await scim.patch(f"/Users/{t.owner.id}", scim.ops(
        {"op": "replace", "path": "userName", "value": new},
        {"op": "replace", "path": "emails[primary eq true].value", "value": new}))
    assert r.status_code == 200, r.text
    assert r.json()["userName"] == new
    assert (await _login(client, t, new)).status_code == 200
    assert_problem(await _login(client, t, t.owner.email), 401, "invalid_login")
    updated = (await audit_events(t, action="user.updated"))[-1]
    assert updated["metadata"]["owner_email"] == {"from": t.owner.email, "to": new,
                                                  "notified": t.owner.email}

    assert await sender.run_once(runtime_with(runtime, smtp_url=smtp_sink.url)) >= 1
    message = await smtp_sink.wait_for(t.owner.email)
    text = message.get_content()
    assert "owner email" in message["Subject"]
    local = new.split("@")[0]
    assert local not in text  # partly masked
    assert f"{local[0]}{'*' * (len(local) - 2)}{local[-1]}@{t.slug}.example" in text
    assert "If you did not expect this" in text


# ---- issue 24: one mailbox, one address ----

async def test_scim_create_with_the_other_spelling_of_an_address_conflicts(
        scim: Scim, tenant: Tenant) -> None:
    first = await scim.create_user(f"carol@{UNICODE}",
                                   emails=[{"value": f"carol@{UNICODE}", "primary": True}])
    r = await scim.post("/Users", {"schemas": [USER_URN], "userName": f"carol@{PUNYCODE}"})
    assert_scim_error(r, 409, "uniqueness")
    r = await scim.post("/Users", {"schemas": [USER_URN], "userName": "carol-2",
                                   "emails": [{"value": f"Carol@{PUNYCODE}", "primary": True}]})
    assert_scim_error(r, 409, "uniqueness")
    # the IdP's existence check finds her in either spelling
    for spelling in (f"carol@{UNICODE}", f"CAROL@{PUNYCODE}"):
        r = await scim.get("/Users", params={"filter": f'userName eq "{spelling}"'})
        assert [u["id"] for u in r.json()["Resources"]] == [first["id"]], spelling
        r = await scim.get("/Users", params={
            "filter": f'emails[type eq "work" or primary eq true].value eq "{spelling}"'})
        assert [u["id"] for u in r.json()["Resources"]] == [first["id"]], spelling
