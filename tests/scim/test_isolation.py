"""Tenant A's SCIM token cannot see or touch tenant B's users and groups, even by id."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant
from tests.scim.conftest import Scim, assert_scim_error

pytestmark = pytest.mark.isolation


async def test_another_tenants_ids_are_404_everywhere(scim: Scim, other_scim: Scim,
                                                      other_tenant: Tenant) -> None:
    theirs = await other_scim.create_user("theirs@example.com", title="Secret")
    their_group = await other_scim.create_group("Their Team", [theirs["id"]])
    for path in (f"/Users/{theirs['id']}", f"/Users/{other_tenant.owner.id}"):
        assert_scim_error(await scim.get(path), 404)
        assert_scim_error(await scim.put(path, {"userName": "hijack"}), 404)
        assert_scim_error(await scim.patch(path, Scim.ops(
            {"op": "replace", "path": "active", "value": False})), 404)
        assert_scim_error(await scim.delete(path), 404)
    gpath = f"/Groups/{their_group['id']}"
    assert_scim_error(await scim.get(gpath), 404)
    assert_scim_error(await scim.put(gpath, {"displayName": "x"}), 404)
    assert_scim_error(await scim.patch(gpath, Scim.ops(
        {"op": "add", "path": "members", "value": []})), 404)
    assert_scim_error(await scim.delete(gpath), 404)
    # filters and searches see only the caller's tenant
    for flt in ('userName eq "theirs@example.com"', f'id eq "{theirs["id"]}"', "title pr"):
        assert (await scim.get("/Users", params={"filter": flt})).json()["totalResults"] == 0
    assert (await scim.get("/Groups")).json()["totalResults"] == 0
    assert (await scim.post("/.search", {"filter": 'displayName eq "Their Team"'})
            ).json()["totalResults"] == 0
    # and their users cannot be pulled into our groups
    ours = await scim.create_group("Ours")
    assert_scim_error(await scim.patch(f"/Groups/{ours['id']}", Scim.ops(
        {"op": "add", "path": "members", "value": [{"value": theirs["id"]}]})), 400,
        "invalidValue")
    # nothing of theirs changed
    still = (await other_scim.get(f"/Users/{theirs['id']}")).json()
    assert still["active"] is True and still["title"] == "Secret"
    assert [m["value"] for m in (await other_scim.get(gpath)).json()["members"]] == [
        theirs["id"]]
