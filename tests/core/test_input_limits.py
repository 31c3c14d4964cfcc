"""The probes of issue 24: values the database would refuse are refused before SQL, naming the
field, and what still reaches the database and is refused there is a 400 without the driver's
text (which goes to the log with the request id). Nothing is written in any case."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from app.core import clock
from app.core.access import AdminPrincipal, TenantTx
from tests.conftest import Tenant, app_with, asgi_client
from tests.scim.conftest import SCIM_JSON, USER_URN, Scim, create_token

DRIVER_TEXT = ("query argument", "0x00", "int64", "int32", "asyncpg", "encoding",
               "invalid input", "division")


def no_driver_text(r: httpx.Response) -> None:
    assert 400 <= r.status_code < 500, f"{r.status_code}: {r.text}"
    for text in DRIVER_TEXT:
        assert text not in r.text.lower(), f"driver text {text!r} in: {r.text}"


async def counts(t: Tenant) -> dict[str, int]:
    out = {}
    for table in ("teams", "projects", "users", "audit_events", "outbox_events"):
        out[table] = (await t.sql(f"SELECT count(*) AS n FROM {table}"))[0]["n"]
    return out


@pytest.fixture
async def scim(client: httpx.AsyncClient, tenant: Tenant) -> Scim:
    token = await create_token(client, tenant)
    return Scim(client=client, tenant=tenant, token=token["token"], token_id=token["id"])


async def test_a_huge_scim_start_index_is_an_empty_page(scim: Scim) -> None:
    await scim.create_user("paged@example.com")
    for start in ("99999999999999999999", "9223372036854775808", "2147483648"):
        r = await scim.get(f"/Users?startIndex={start}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["Resources"] == [] and body["itemsPerPage"] == 0 and body["totalResults"] >= 1
        assert body["startIndex"] == 2**31 - 1
    r = await scim.client.post("/scim/v2/Users/.search",
                               headers={**scim.headers, "Content-Type": SCIM_JSON},
                               content=b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:'
                               b'SearchRequest"], "startIndex": 100000000000000000000, '
                               b'"count": 100000000000000000000}')
    # a JSON number beyond 64 bits is read as a float, which is not an integer: refused
    no_driver_text(r)
    assert r.status_code == 400 and r.json()["scimType"] == "invalidValue", r.text


@pytest.mark.parametrize(("url", "body", "field"), [
    ("/api/v1/teams", {"name": "red\x00team"}, "name"),
    ("/api/v1/projects", {"name": "proj\x00ect"}, "name"),
    ("/api/v1/projects", {"name": "fine", "description": "d\x00"}, "description"),
])
async def test_a_nul_character_in_rest_text_is_a_422_naming_the_field(
        client: httpx.AsyncClient, tenant: Tenant, url: str, body: dict[str, Any],
        field: str) -> None:
    before = await counts(tenant)
    r = await client.post(url, headers=tenant.headers, json=body)
    no_driver_text(r)
    assert r.status_code == 422 and r.json()["code"] == "validation_error", r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert "NUL" in r.json()["detail"]
    assert await counts(tenant) == before


async def test_a_nul_character_in_a_scim_user_name_is_a_scim_400(scim: Scim) -> None:
    before = await counts(scim.tenant)
    r = await scim.post("/Users", {"schemas": [USER_URN], "userName": "nul\x00@example.com"})
    no_driver_text(r)
    assert r.status_code == 400 and r.json()["scimType"] == "invalidValue", r.text
    assert "userName" in r.json()["detail"]
    assert await counts(scim.tenant) == before


async def test_a_nul_character_in_a_query_parameter_names_it(client: httpx.AsyncClient,
                                                            tenant: Tenant, scim: Scim) -> None:
    r = await client.get("/api/v1/audit", headers=tenant.headers,
                         params={"resource_id": "a\x00b"})
    no_driver_text(r)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert r.json()["errors"] == [{"field": "query.resource_id",
                                   "message": "Text must not contain NUL characters (\\u0000)"}]
    assert r.headers["x-request-id"]
    r = await scim.get("/Users", params={"sortBy": "\x00"})
    no_driver_text(r)
    assert r.status_code == 400 and r.headers["content-type"].startswith(SCIM_JSON)


async def test_api_key_expiry_without_a_zone_is_a_422(client: httpx.AsyncClient,
                                                      tenant: Tenant) -> None:
    """The probe: this was a 500 (a naive time compared with the zoned clock)."""
    before = await tenant.sql("SELECT count(*) AS n FROM api_keys")
    r = await client.post("/api/v1/api-keys", headers=tenant.headers,
                          json={"name": "naive", "expires_at": "2030-01-01T00:00:00"})
    assert r.status_code == 422 and r.json()["code"] == "validation_error", r.text
    assert r.json()["errors"][0]["field"] == "expires_at"
    assert await tenant.sql("SELECT count(*) AS n FROM api_keys") == before
    r = await client.post("/api/v1/api-keys", headers=tenant.headers,
                          json={"name": "zoned", "expires_at": "2030-01-01T02:00:00+02:00"})
    assert r.status_code == 201, r.text
    assert r.json()["expires_at"].startswith("2030-01-01T00:00:00")


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_audit_times_outside_the_representable_range_are_400(
        client: httpx.AsyncClient, tenant: Tenant, value: str) -> None:
    r = await client.get("/api/v1/audit", headers=tenant.headers, params={"after": value})
    no_driver_text(r)
    assert r.status_code == 400 and r.json()["code"] == "invalid_timestamp", r.text


@pytest.fixture
def probe_app(runtime: Any) -> Any:
    """The real app with one more route that sends a value PostgreSQL refuses, after writing
    a project in the same transaction: the central handler's fallback for whatever the
    validators did not foresee."""
    app = app_with(runtime)

    async def refuse(_: AdminPrincipal, tx: TenantTx, kind: str) -> dict[str, str]:
        await tx.execute(
            "INSERT INTO projects (tenant_id, name, slug, description, created_at, updated_at)"
            " VALUES ($1, 'written', 'written', '', $2, $2)", tx.tenant_id, clock.now())
        if kind == "text":  # server side: InvalidTextRepresentationError
            await tx.fetchval("SELECT $1::text::integer", "twelve")
        elif kind == "range":  # client side: the driver cannot encode it
            await tx.fetchval("SELECT $1::integer", 2**40)
        else:  # server side: DivisionByZeroError, also a DataError
            await tx.fetchval("SELECT 1 / $1::integer", 0)
        return {}

    for prefix in ("/api/v1", "/scim/v2"):
        app.add_api_route(prefix + "/_probe/{kind}", refuse, methods=["POST"])
    return app


@pytest.mark.parametrize("kind", ["text", "range", "zero"])
async def test_a_value_the_database_refuses_is_a_400_without_driver_text(
        probe_app: Any, tenant: Tenant, kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="drift.errors")
    async with asgi_client(probe_app, raise_app_exceptions=False) as c:
        r = await c.post(f"/api/v1/_probe/{kind}", headers=tenant.headers)
    no_driver_text(r)
    body = r.json()
    assert r.status_code == 400 and body["code"] == "invalid_value", r.text
    rid = r.headers["x-request-id"]
    assert body["request_id"] == rid
    assert not await tenant.sql("SELECT 1 FROM projects WHERE slug = 'written'")
    logged = [rec.getMessage() for rec in caplog.records if rid in rec.getMessage()]
    assert logged and any(w in logged[0] for w in ("twelve", "int32", "division")), logged


async def test_the_fallback_speaks_scim_under_scim(probe_app: Any, tenant: Tenant) -> None:
    async with asgi_client(probe_app, raise_app_exceptions=False) as c:
        r = await c.post("/scim/v2/_probe/text", headers=tenant.headers)
    no_driver_text(r)
    assert r.status_code == 400 and r.json()["scimType"] == "invalidValue", r.text
    assert not await tenant.sql("SELECT 1 FROM projects WHERE slug = 'written'")
