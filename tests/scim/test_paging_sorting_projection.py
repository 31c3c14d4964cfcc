"""Paging (startIndex/count), sortBy/sortOrder and attributes/excludedAttributes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.scim.conftest import ENTERPRISE_URN, LIST_URN, Scim, assert_scim_error


@pytest.fixture
async def twenty_five(scim: Scim) -> list[dict[str, Any]]:
    return [await scim.create_user(f"user-{i:02d}@example.com", title=f"T{25 - i:02d}",
                                   emails=[{"value": f"u{i}@example.com", "primary": True}])
            for i in range(25)]


async def _page(scim: Scim, **params: Any) -> dict[str, Any]:
    r = await scim.get("/Users", params={"filter": 'userName sw "user-"', **params})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["schemas"] == [LIST_URN]
    return body


async def test_twenty_five_users_paged_by_ten(scim: Scim, twenty_five: Any) -> None:
    first = await _page(scim, startIndex=1, count=10)
    assert (first["totalResults"], first["itemsPerPage"], first["startIndex"]) == (25, 10, 1)
    seen = [u["id"] for u in first["Resources"]]
    second = await _page(scim, startIndex=11, count=10)
    third = await _page(scim, startIndex=21, count=10)
    assert (third["itemsPerPage"], third["startIndex"]) == (5, 21)
    seen += [u["id"] for u in second["Resources"] + third["Resources"]]
    assert seen == [u["id"] for u in twenty_five]  # stable order, no gaps, no repeats
    beyond = await _page(scim, startIndex=26, count=10)
    assert (beyond["totalResults"], beyond["itemsPerPage"], beyond["Resources"]) == (25, 0, [])


async def test_out_of_range_paging_values_are_clamped(scim: Scim, twenty_five: Any) -> None:
    zero = await _page(scim, startIndex=0, count=3)
    assert zero["startIndex"] == 1 and len(zero["Resources"]) == 3
    negative = await _page(scim, startIndex=-5, count=-1)
    assert (negative["totalResults"], negative["itemsPerPage"], negative["Resources"]) == (
        25, 0, [])
    only_total = await _page(scim, count=0)
    assert only_total["totalResults"] == 25 and only_total["Resources"] == []
    everything = await _page(scim, count=5000)  # capped at maxResults, all 25 fit
    assert everything["itemsPerPage"] == 25
    default = await _page(scim)
    assert default["itemsPerPage"] == 25
    assert_scim_error(await scim.get("/Users", params={"count": "ten"}), 400, "invalidValue")


async def test_sorting(scim: Scim, twenty_five: Any) -> None:
    by_title = await _page(scim, sortBy="title", count=3)
    assert [u["title"] for u in by_title["Resources"]] == ["T01", "T02", "T03"]
    desc = await _page(scim, sortBy="USERNAME", sortOrder="descending", count=2)
    assert [u["userName"] for u in desc["Resources"]] == ["user-24@example.com",
                                                         "user-23@example.com"]
    by_email = await _page(scim, sortBy="emails", sortOrder="descending", count=1)
    assert by_email["Resources"][0]["emails"][0]["value"] == "u9@example.com"
    by_meta = await _page(scim, sortBy="meta.created", count=1)
    assert by_meta["Resources"][0]["id"] == twenty_five[0]["id"]
    assert_scim_error(await scim.get("/Users", params={"sortBy": "nope"}), 400, "invalidValue")
    assert_scim_error(await scim.get("/Users", params={"sortBy": "title",
                                                       "sortOrder": "sideways"}), 400)


async def test_missing_values_sort_last_ascending(scim: Scim) -> None:
    await scim.create_user("zed", nickName="a")
    await scim.create_user("yan")
    await scim.create_user("xia", nickName="b")
    body = (await scim.get("/Users", params={"sortBy": "nickName",
                                             "filter": 'userName ne "nobody"'})).json()
    names = [u["userName"] for u in body["Resources"] if not u["userName"].startswith("owner@")]
    assert names == ["zed", "xia", "yan"]


async def test_attributes_and_excluded_attributes_everywhere(scim: Scim) -> None:
    user = await scim.create_user("proj@example.com", title="Projected", nickName="P",
                                  name={"givenName": "Pro", "familyName": "Jected"},
                                  **{ENTERPRISE_URN: {"department": "D", "division": "V"}})
    uid = user["id"]
    only = (await scim.get(f"/Users/{uid}", params={"attributes": "title,name.givenName"})
            ).json()
    assert only == {"schemas": user["schemas"], "id": uid, "title": "Projected",
                    "name": {"givenName": "Pro"}}
    ext = (await scim.get(f"/Users/{uid}", params={
        "attributes": f"{ENTERPRISE_URN}:department,userName"})).json()
    assert ext[ENTERPRISE_URN] == {"department": "D"} and ext["userName"] == "proj@example.com"
    without = (await scim.get(f"/Users/{uid}", params={
        "excludedAttributes": "title,meta,id,name.familyName"})).json()
    assert "title" not in without and "meta" not in without
    assert without["id"] == uid  # id is always returned
    assert without["name"] == {"givenName": "Pro"} and without["nickName"] == "P"
    listed = (await scim.get("/Users", params={"filter": f'id eq "{uid}"',
                                               "attributes": "nickName"})).json()
    assert listed["Resources"] == [{"schemas": user["schemas"], "id": uid, "nickName": "P"}]
    searched = (await scim.post("/Users/.search", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": f'id eq "{uid}"', "excludedAttributes": ["name", "emails"]})).json()
    assert "name" not in searched["Resources"][0] and searched["totalResults"] == 1
    created = await scim.post("/Users", {"userName": "p2"}, params={"attributes": "userName"})
    assert created.status_code == 201 and set(created.json()) == {"schemas", "id", "userName"}
    patched = await scim.patch(f"/Users/{uid}", Scim.ops(
        {"op": "replace", "path": "title", "value": "New"}), params={"attributes": "title"})
    assert set(patched.json()) == {"schemas", "id", "title"}
    both = await scim.get(f"/Users/{uid}", params={"attributes": "title",
                                                   "excludedAttributes": "name"})
    assert_scim_error(both, 400, "invalidValue")


async def test_search_endpoints(scim: Scim) -> None:
    u = await scim.create_user("searched@example.com", title="Finder")
    g = await scim.create_group("Searchers", [u["id"]])
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'title eq "Finder" or displayName eq "searchers"', "startIndex": 1,
            "count": 10, "sortBy": "meta.created"}
    root = (await scim.post("/.search", body)).json()
    assert root["totalResults"] == 2
    assert [(r["meta"]["resourceType"], r["id"]) for r in root["Resources"]] == [
        ("User", u["id"]), ("Group", g["id"])]
    groups = (await scim.post("/Groups/.search", {"filter": 'displayName sw "search"'})).json()
    assert [r["id"] for r in groups["Resources"]] == [g["id"]]
    assert (await scim.post("/.search", {**body, "count": 0})).json()["totalResults"] == 2
    bad = await scim.post("/.search", {"schemas": ["urn:wrong"], "filter": "title pr"})
    assert_scim_error(bad, 400, "invalidSyntax")
    assert_scim_error(await scim.post("/.search", {"filter": "title eq"}), 400, "invalidFilter")
