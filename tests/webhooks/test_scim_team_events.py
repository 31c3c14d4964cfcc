"""SCIM group membership changes raise team.member.added / team.member.removed, with the
same payload shape as the teams API (source `scim`), and they reach subscribed endpoints."""

from __future__ import annotations

from typing import Any

import httpx

from app.core.runtime import Runtime
from tests.conftest import Tenant
from tests.scim.conftest import GROUP_URN, Scim, scim_client
from tests.webhooks.conftest import Hook, Receiver
from tests.webhooks.helpers import deliver, subscribed_hook, validate_event


def member_events(hook: Hook) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, user id, data) in webhook-sequence order: the order the changes committed."""
    got = sorted(hook.requests, key=lambda r: int(r.headers["webhook-sequence"]))
    out = []
    for r in got:
        event = r.json()
        validate_event(event)
        out.append((event["type"], event["data"]["user_id"], event["data"]))
    return out


async def test_scim_group_membership_changes_are_team_member_events(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = await subscribed_hook(client, tenant, receiver, ["team.member.*"])
    scim = await scim_client(client, tenant)
    a = await scim.create_user("a@example.com",
                               emails=[{"value": "a@example.com", "primary": True}])
    b = await scim.create_user("b@example.com",
                               emails=[{"value": "b@example.com", "primary": True}])
    c = await scim.create_user("c@example.com",
                               emails=[{"value": "c@example.com", "primary": True}])
    email = {a["id"]: "a@example.com", b["id"]: "b@example.com", c["id"]: "c@example.com"}

    g = await scim.create_group("Platform", [a["id"]])                     # + a
    r = await scim.patch(f"/Groups/{g['id']}", Scim.ops(                  # + b
        {"op": "add", "path": "members", "value": [{"value": b["id"]}, {"value": a["id"]}]}))
    assert r.status_code == 204
    r = await scim.patch(f"/Groups/{g['id']}", Scim.ops(                  # - a
        {"op": "remove", "path": f'members[value eq "{a["id"]}"]'}))
    assert r.status_code == 204
    r = await scim.put(f"/Groups/{g['id']}", {                            # - b, + c, renamed
        "schemas": [GROUP_URN], "displayName": "Platform Team", "members": [{"value": c["id"]}]})
    assert r.status_code == 200, r.text
    # nothing changes: no event (a member re-added, an absent one removed)
    r = await scim.patch(f"/Groups/{g['id']}", Scim.ops(
        {"op": "add", "path": "members", "value": [{"value": c["id"]}]},
        {"op": "remove", "path": f'members[value eq "{a["id"]}"]'}))
    assert r.status_code == 204

    outbox = await tenant.sql("SELECT type, data FROM outbox_events"
                              " WHERE type LIKE 'team.member.%' ORDER BY created_at")
    assert len(outbox) == 5
    await deliver(runtime, tenant)
    await hook.wait_for(5)
    got = member_events(hook)
    assert [(t, u) for t, u, _ in got] == [
        ("team.member.added", a["id"]), ("team.member.added", b["id"]),
        ("team.member.removed", a["id"]),
        ("team.member.added", c["id"]), ("team.member.removed", b["id"])]
    names = ["Platform"] * 3 + ["Platform Team"] * 2  # the PUT renamed it
    for (type_, user_id, data), name in zip(got, names, strict=True):
        assert data == {"team_id": g["id"], "team_name": name, "user_id": user_id,
                        "email": email[user_id], "role": "member", "source": "scim"}, type_


async def test_scim_events_have_the_teams_api_shape(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    """The same keys as the teams API's events, only `source` differs."""
    hook = await subscribed_hook(client, tenant, receiver,
                                 ["team.member.added", "team.member.removed"])
    scim = await scim_client(client, tenant)
    idp_user = await scim.create_user("idp@example.com")
    g = await scim.create_group("From the IdP", [idp_user["id"]])
    r = await scim.patch(f"/Groups/{g['id']}", Scim.ops({"op": "remove", "path": "members"}))
    assert r.status_code == 204
    member = await tenant.add_user("member")
    r = await client.post("/api/v1/teams", headers=tenant.headers, json={"name": "By hand"})
    assert r.status_code == 201, r.text
    team = r.json()
    r = await client.post(f"/api/v1/teams/{team['id']}/members", headers=tenant.headers,
                          json={"user_id": str(member.id), "role": "member"})
    assert r.status_code == 201, r.text
    r = await client.delete(f"/api/v1/teams/{team['id']}/members/{member.id}",
                            headers=tenant.headers)
    assert r.status_code == 204
    await deliver(runtime, tenant)
    await hook.wait_for(4)
    got = member_events(hook)
    assert [(t, d["source"]) for t, _, d in got] == [
        ("team.member.added", "scim"), ("team.member.removed", "scim"),
        ("team.member.added", "teams_api"), ("team.member.removed", "teams_api")]
    assert len({frozenset(d) for _, _, d in got}) == 1
