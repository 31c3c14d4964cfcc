"""Absolute SCIM URLs (Location, meta.location, discovery): DRIFT_PUBLIC_URL when set; when it
is not, the bound host and port, or what a trusted proxy says in X-Forwarded-Proto/-Host."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.config import Settings
from app.core.runtime import Runtime
from app.main import create_app
from tests.conftest import Tenant, asgi_client, bearer
from tests.scim.conftest import USER_URN, create_token

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "drift.example.com",
             "X-Forwarded-For": "203.0.113.9"}


def test_the_default_public_url_follows_the_bound_host_and_port() -> None:
    assert Settings(port=8160).public_url == "http://127.0.0.1:8160"
    wildcard = Settings(host="0.0.0.0", port=9000)  # noqa: S104
    assert wildcard.public_url == "http://127.0.0.1:9000"
    assert Settings(host="::1", port=9000).public_url == "http://[::1]:9000"
    assert Settings(port=8160).public_url_derived
    configured = Settings(public_url="https://drift.example.com/", port=8160)
    assert configured.public_url == "https://drift.example.com"
    assert not configured.public_url_derived


def _app(runtime: Runtime, **overrides: Any) -> Any:
    data = {**runtime.settings.model_dump(), "public_url": "", "port": 8160, **overrides}
    settings = Settings.model_validate(data)
    rt = Runtime(settings=settings, db=runtime.db, jwt_secret=runtime.jwt_secret,
                 secret_key=runtime.secret_key)
    return create_app(settings, runtime=rt, run_worker=False)


async def _create_user(c: httpx.AsyncClient, tenant: Tenant, headers: dict[str, str]
                       ) -> httpx.Response:
    token = (await create_token(c, tenant))["token"]
    r = await c.post("/scim/v2/Users", headers={**bearer(token), **headers},
                     json={"schemas": [USER_URN], "userName": "url.check@example.com"})
    assert r.status_code == 201, r.text
    return r


@pytest.mark.parametrize("headers", [{}, FORWARDED], ids=["plain", "untrusted-forwarded"])
async def test_scim_urls_use_the_bound_port_and_ignore_untrusted_forwarded_headers(
        runtime: Runtime, tenant: Tenant, headers: dict[str, str]) -> None:
    async with asgi_client(_app(runtime, trusted_proxies="10.0.0.0/8")) as c:
        r = await _create_user(c, tenant, headers)
        uid = r.json()["id"]
        assert r.headers["Location"] == f"http://127.0.0.1:8160/scim/v2/Users/{uid}"
        assert r.json()["meta"]["location"] == r.headers["Location"]


async def test_a_trusted_proxy_names_the_public_scheme_and_host(
        runtime: Runtime, tenant: Tenant) -> None:
    async with asgi_client(_app(runtime, trusted_proxies="127.0.0.1/32")) as c:
        r = await _create_user(c, tenant, FORWARDED)
        uid = r.json()["id"]
        assert r.headers["Location"] == f"https://drift.example.com/scim/v2/Users/{uid}"
        assert r.json()["meta"]["location"] == r.headers["Location"]
        token = (await create_token(c, tenant, "second"))["token"]
        spc = await c.get("/scim/v2/ServiceProviderConfig",
                          headers={**bearer(token), **FORWARDED})
        assert spc.json()["meta"]["location"].startswith("https://drift.example.com/scim/v2/")
        # a forged host is not a host: the bound address is used
        r = await c.get(f"/scim/v2/Users/{uid}", headers={
            **bearer(token), **FORWARDED, "X-Forwarded-Host": "evil.example/path?"})
        assert r.json()["meta"]["location"] == f"http://127.0.0.1:8160/scim/v2/Users/{uid}"


async def test_a_configured_public_url_wins_over_forwarded_headers(
        runtime: Runtime, tenant: Tenant) -> None:
    app = _app(runtime, trusted_proxies="127.0.0.1/32", public_url="https://api.drift.test")
    async with asgi_client(app) as c:
        r = await _create_user(c, tenant, FORWARDED)
        assert r.headers["Location"].startswith("https://api.drift.test/scim/v2/Users/")
