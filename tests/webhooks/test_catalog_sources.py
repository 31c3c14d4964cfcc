"""The wider catalog: team, member, invitation, user and allowlist changes each emit their
event from the service that makes the change, and wildcard subscriptions (`team.*`) receive
every type under the prefix and nothing else."""

from __future__ import annotations

from typing import Any

import httpx

from app.core.runtime import Runtime
from tests.conftest import Tenant, assert_problem
from tests.scim.conftest import USER_URN, Scim, create_token
from tests.teams.conftest import create_team, invite_token, unique_email
from tests.webhooks.conftest import Receiver
from tests.webhooks.helpers import deliver, register, validate_event

ALLOWLIST = "/api/v1/settings/ip-allowlist"


def by_type(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        validate_event(e)
        out.setdefault(e["type"], []).append(e["data"])
    return out


async def test_team_member_invitation_and_allowlist_changes_are_delivered(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    everything = receiver.hook()
    teams_only = receiver.hook()
    await register(client, tenant, everything.url,
                   ["team.*", "member.*", "invitation.*", "ip_allowlist.changed",
                    "user.updated"])
    await register(client, tenant, teams_only.url, ["team.*"])
    h = tenant.headers
    team = await create_team(client, tenant, "Platform")
    r = await client.patch(f"/api/v1/teams/{team['id']}", headers=h,
                           json={"description": "Infra"})
    assert r.status_code == 200, r.text
    member = await tenant.add_user("member")
    r = await client.post(f"/api/v1/teams/{team['id']}/members", headers=h,
                          json={"user_id": str(member.id)})
    assert r.status_code == 201, r.text
    r = await client.delete(f"/api/v1/teams/{team['id']}/members/{member.id}", headers=h)
    assert r.status_code == 204, r.text
    r = await client.patch(f"/api/v1/members/{member.id}", headers=h, json={"role": "admin"})
    assert r.status_code == 200, r.text
    r = await client.delete(f"/api/v1/members/{member.id}", headers=h)
    assert r.status_code == 204, r.text
    # invitations: one revoked, one (with a team) accepted
    revoked, _ = await invite_token(client, runtime, tenant)
    r = await client.delete(f"/api/v1/invitations/{revoked['id']}", headers=h)
    assert r.status_code == 204, r.text
    joined_email = unique_email(tenant, "joiner")
    inv, token = await invite_token(client, runtime, tenant, joined_email,
                                    team_id=team["id"])
    r = await client.post(f"/api/v1/invitations/{token}/accept", json={"name": "Joiner"})
    assert r.status_code in (200, 201), r.text
    joiner_id = r.json()["user"]["id"]
    # the allowlist
    r = await client.post(ALLOWLIST, headers=h, json={"cidr": "127.0.0.0/8",
                                                      "description": "loopback"})
    assert r.status_code == 201, r.text
    entry = r.json()
    r = await client.patch(f"{ALLOWLIST}/{entry['id']}", headers=h,
                           json={"description": "lo"})
    assert r.status_code == 200, r.text
    r = await client.delete(f"{ALLOWLIST}/{entry['id']}", headers=h)
    assert r.status_code == 204, r.text
    # SCIM changes a user's name: user.updated
    scim_token = await create_token(client, tenant)
    scim = Scim(client, tenant, scim_token["token"], scim_token["id"])
    scim_user = await scim.create_user("idp-user@example.com")
    r = await scim.put(f"/Users/{scim_user['id']}", {
        "schemas": [USER_URN], "userName": "idp-user@example.com",
        "displayName": "Renamed", "active": True})
    assert r.status_code == 200, r.text
    r = await client.delete(f"/api/v1/teams/{team['id']}", headers=h)
    assert r.status_code == 204, r.text
    await deliver(runtime, tenant)

    got = by_type(everything.events())
    team_id = team["id"]
    assert got["team.created"] == [{"team_id": team_id, "name": "Platform",
                                    "description": None, "changed": []}]
    assert got["team.updated"] == [{"team_id": team_id, "name": "Platform",
                                    "description": "Infra", "changed": ["description"]}]
    assert got["team.deleted"][0]["team_id"] == team_id
    added = got["team.member.added"]
    # deliveries are not FIFO (docs/webhooks.md): compare as a set
    assert sorted((a["user_id"], a["source"]) for a in added) == sorted([
        (str(member.id), "teams_api"), (joiner_id, "invitation")])
    assert got["team.member.removed"] == [{
        "team_id": team_id, "team_name": "Platform", "user_id": str(member.id),
        "email": member.email, "role": "member", "source": "teams_api"}]
    assert got["member.role_changed"] == [{"user_id": str(member.id), "email": member.email,
                                           "old_role": "member", "new_role": "admin"}]
    assert got["member.removed"] == [{"user_id": str(member.id), "email": member.email,
                                      "role": "admin", "source": "members_api"}]
    assert got["member.added"] == [{"user_id": joiner_id, "email": joined_email,
                                    "role": "member", "source": "invitation"}]
    assert sorted(d["invitation_id"] for d in got["invitation.created"]) == sorted(
        [revoked["id"], inv["id"]])
    assert got["invitation.revoked"][0]["invitation_id"] == revoked["id"]
    assert got["invitation.revoked"][0]["reason"] == "admin"
    assert got["invitation.accepted"] == [{
        "invitation_id": inv["id"], "email": joined_email, "role": "member",
        "team_id": team_id, "user_id": joiner_id, "reason": None}]
    assert sorted((d["action"], d["cidr"], d["description"])
                  for d in got["ip_allowlist.changed"]) == sorted([
        ("added", "127.0.0.0/8", "loopback"), ("updated", "127.0.0.0/8", "lo"),
        ("removed", "127.0.0.0/8", "lo")])
    (updated,) = got["user.updated"]
    assert updated["user_id"] == scim_user["id"] and "displayName" in updated["attributes"]
    # the wildcard endpoint got every team.* event and nothing else
    team_types = [e["type"] for e in teams_only.events()]
    assert sorted(team_types) == sorted(
        ["team.created", "team.updated", "team.member.added", "team.member.removed",
         "team.member.added", "team.deleted"])


async def test_wildcards_must_match_the_catalog(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    for events, bad in ((["team.*", "teams.*"], "events.1"), (["*"], "events.0"),
                        (["team"], "events.0"), (["team.member.added.*"], "events.0")):
        r = await client.post("/api/v1/webhooks", headers=tenant.headers,
                              json={"url": "https://hooks.example.com/x", "events": events})
        assert_problem(r, 422, "validation_error")
        assert bad in r.text
    assert await tenant.sql("SELECT 1 FROM webhook_endpoints") == []
