"""Versions (ETag / If-Match / If-None-Match), content types and the SCIM error format."""

from __future__ import annotations

import httpx

from tests.scim.conftest import SCIM_JSON, USER_URN, Scim, assert_scim_error


async def test_if_match_guards_every_write(scim: Scim) -> None:
    user = await scim.create_user("etag@example.com", title="v1")
    v1 = user["meta"]["version"]
    got = await scim.get(f"/Users/{user['id']}")
    assert got.headers["etag"] == v1 == got.json()["meta"]["version"]
    changed = await scim.patch(f"/Users/{user['id']}", Scim.ops(
        {"op": "replace", "path": "title", "value": "v2"}), headers={"If-Match": v1})
    assert changed.status_code == 200
    v2 = changed.headers["etag"]
    assert v2 != v1
    for method, body in (("PATCH", Scim.ops({"op": "replace", "path": "title", "value": "x"})),
                         ("PUT", {"schemas": [USER_URN], "userName": "etag@example.com"}),
                         ("DELETE", None)):
        stale = await scim.request(method, f"/Users/{user['id']}", json=body,
                                   headers={"If-Match": v1})
        assert_scim_error(stale, 412)
    assert (await scim.get(f"/Users/{user['id']}")).json()["title"] == "v2"
    assert (await scim.put(f"/Users/{user['id']}", {"userName": "etag@example.com"},
                           headers={"If-Match": f'"other", {v2}'})).status_code == 200
    assert (await scim.delete(f"/Users/{user['id']}", headers={"If-Match": "*"})
            ).status_code == 204


async def test_if_none_match_answers_304(scim: Scim) -> None:
    user = await scim.create_user("cache@example.com")
    r = await scim.get(f"/Users/{user['id']}", headers={"If-None-Match": user["meta"]["version"]})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] == user["meta"]["version"]
    g = await scim.create_group("Cached")
    r = await scim.get(f"/Groups/{g['id']}", headers={"If-None-Match": g["meta"]["version"]})
    assert r.status_code == 304
    assert (await scim.get(f"/Groups/{g['id']}", headers={"If-None-Match": 'W/"old"'})
            ).status_code == 200


async def test_group_versions_change_with_membership(scim: Scim) -> None:
    u = await scim.create_user("member@example.com")
    g = await scim.create_group("Versioned")
    await scim.patch(f"/Groups/{g['id']}", Scim.ops(
        {"op": "add", "path": "members", "value": [{"value": u["id"]}]}))
    after = (await scim.get(f"/Groups/{g['id']}")).json()
    assert after["meta"]["version"] != g["meta"]["version"]
    stale = await scim.patch(f"/Groups/{g['id']}", Scim.ops(
        {"op": "remove", "path": "members"}), headers={"If-Match": g["meta"]["version"]})
    assert_scim_error(stale, 412)


async def test_content_types(scim: Scim, client: httpx.AsyncClient) -> None:
    plain = await client.post("/scim/v2/Users", headers=scim.headers,
                              json={"userName": "as-json@example.com"})
    assert plain.status_code == 201
    assert plain.headers["content-type"] == SCIM_JSON
    charset = await scim.post("/Users", {"userName": "charset@example.com"},
                              headers={"Content-Type": "application/scim+json; charset=utf-8"})
    assert charset.status_code == 201
    text = await client.post("/scim/v2/Users", content=b"userName=x",
                             headers={**scim.headers, "Content-Type": "text/plain"})
    assert_scim_error(text, 415)
    broken = await client.post("/scim/v2/Users", content=b"{not json",
                               headers={**scim.headers, "Content-Type": SCIM_JSON})
    assert_scim_error(broken, 400, "invalidSyntax")
    empty = await client.post("/scim/v2/Users", content=b"",
                              headers={**scim.headers, "Content-Type": SCIM_JSON})
    assert_scim_error(empty, 400, "invalidSyntax")
    huge = await client.post("/scim/v2/Users", content=b"{" + b" " * 1_100_000 + b"}",
                             headers={**scim.headers, "Content-Type": SCIM_JSON})
    assert_scim_error(huge, 413)


async def test_every_error_under_scim_uses_the_scim_error_schema(scim: Scim,
                                                                 client: httpx.AsyncClient
                                                                 ) -> None:
    assert_scim_error(await scim.get("/NoSuchEndpoint"), 404)
    assert_scim_error(await scim.get("/Users/not-a-uuid"), 404)
    assert_scim_error(await scim.get("/Groups/00000000-0000-0000-0000-000000000000"), 404)
    assert_scim_error(await scim.request("PUT", "/Users"), 405)
    assert_scim_error(await scim.request("DELETE", "/ServiceProviderConfig"), 405)
    assert_scim_error(await client.get("/scim/v2/Users"), 401)
    assert_scim_error(await scim.get("/Users", params={"startIndex": "first"}), 400,
                      "invalidValue")
    # the REST API keeps problem+json
    assert (await client.get("/api/v1/nope")).headers["content-type"] == \
        "application/problem+json"
