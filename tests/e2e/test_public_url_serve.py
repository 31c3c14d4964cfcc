"""`drift-cloud serve --port N` without DRIFT_PUBLIC_URL: absolute URLs name port N (they named
the default 8000 before), and `tenants create --owner-name` gives SCIM the owner's name."""

from __future__ import annotations

import httpx

from tests.conftest import bearer
from tests.e2e.conftest import FreshDatabase, Procs, cli
from tests.scim.conftest import USER_URN


async def test_serve_derives_the_public_url_from_the_port_it_binds(
        fresh_db: FreshDatabase, procs: Procs) -> None:
    env = {k: v for k, v in fresh_db.env().items() if k != "DRIFT_PUBLIC_URL"}
    api = await procs.serve("api", env)
    created = await cli(env, "tenants", "create", "--name", "Url Co", "--owner-email",
                        "boss@url.example", "--owner-name", "Ada Lovelace")
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as c:
        r = await c.post("/api/v1/settings/scim", headers=bearer(created["api_key"]),
                         json={"name": "Okta"})
        assert r.status_code == 201, r.text
        scim = bearer(r.json()["token"])
        r = await c.post("/scim/v2/Users", headers=scim,
                         json={"schemas": [USER_URN], "userName": "u@url.example"})
        assert r.status_code == 201, r.text
        assert r.headers["Location"] == f"{api.url}/scim/v2/Users/{r.json()['id']}"
        owner = (await c.get("/scim/v2/Users", headers=scim,
                             params={"count": "1", "startIndex": "1"})).json()["Resources"][0]
        assert owner["name"]["givenName"] == "Ada" and owner["name"]["familyName"] == "Lovelace"
