"""DRIFT_CORS_ORIGINS: exact origins, preflights, exposed headers (app/core/cors.py).
The browser's own view of the same rules: tests/browser/test_cross_origin.py."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.core.runtime import Runtime
from tests.conftest import Tenant, app_with, asgi_client

ALLOWED = "https://app.example.com"
OTHER = "https://evil.example.net"


@pytest.fixture
def cors_app(runtime: Runtime) -> object:
    return app_with(runtime, cors_origins=[ALLOWED, "http://127.0.0.1:5173"])


def _preflight(origin: str, method: str = "PATCH",
               headers: str = "authorization, idempotency-key, x-request-id, content-type"
               ) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers}


async def test_preflight_from_an_allowed_origin_lists_methods_and_headers(cors_app: object
                                                                           ) -> None:
    async with asgi_client(cors_app) as c:
        r = await c.options("/api/v1/projects/00000000-0000-0000-0000-000000000001",
                            headers=_preflight(ALLOWED))
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ALLOWED
    methods = {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= methods
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "idempotency-key", "x-request-id", "content-type",
            "last-event-id"} <= allowed
    assert "origin" in r.headers["vary"].lower()
    assert int(r.headers["access-control-max-age"]) > 0
    # bearer credentials travel in a header: the browser is never asked to attach cookies
    assert "access-control-allow-credentials" not in r.headers


async def test_preflight_from_another_origin_is_refused_with_a_problem(cors_app: object
                                                                        ) -> None:
    async with asgi_client(cors_app) as c:
        r = await c.options("/api/v1/projects", headers=_preflight(OTHER, "POST"))
        odd = await c.options("/api/v1/projects",
                              headers=_preflight(ALLOWED, "POST", "x-not-allowed"))
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "cors_preflight_refused"
    assert OTHER in r.json()["detail"]
    assert "access-control-allow-origin" not in r.headers
    assert odd.status_code == 403 and "headers" in odd.json()["detail"]


async def test_allowed_origin_reads_responses_and_the_headers_the_api_sets(
        cors_app: object, tenant: Tenant) -> None:
    async with asgi_client(cors_app) as c:
        ok = await c.get("/api/v1/projects", headers={**tenant.headers, "Origin": ALLOWED})
        other = await c.get("/api/v1/projects", headers={**tenant.headers, "Origin": OTHER})
        none = await c.get("/api/v1/projects", headers=tenant.headers)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == ALLOWED
    exposed = {h.strip().lower() for h in ok.headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "x-drift-next-cursor", "x-drift-has-more", "link", "retry-after",
            "ratelimit", "ratelimit-policy", "location"} <= exposed
    assert "access-control-allow-credentials" not in ok.headers
    assert "x-request-id" in ok.headers  # the request middleware still ran inside
    for r in (ok, other, none):
        assert "origin" in r.headers["vary"].lower()  # caches keep origins apart
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in none.headers


async def test_body_limit_refusal_is_readable_cross_origin(cors_app: object,
                                                           tenant: Tenant) -> None:
    """CORS is outermost: the 413 the request middleware answers before routing carries the
    CORS headers, so the page can show why."""
    async with asgi_client(cors_app) as c:
        r = await c.post("/api/v1/projects", content=b"x" * (1_048_576 + 1),
                         headers={**tenant.headers, "Origin": ALLOWED,
                                  "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    assert r.headers["access-control-allow-origin"] == ALLOWED


async def test_without_configured_origins_no_cors_headers(client: object,
                                                          tenant: Tenant) -> None:
    r = await client.get("/api/v1/projects",  # type: ignore[attr-defined]
                         headers={**tenant.headers, "Origin": ALLOWED})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("value", ["*", "https://*.example.com", "https://app.example.com/path",
                                   "app.example.com", "ftp://files.example.com"])
def test_cors_origins_must_be_exact_origins(value: str) -> None:
    with pytest.raises(ValidationError, match=r"origin|wildcard"):
        Settings(cors_origins=value)  # type: ignore[arg-type]


def test_cors_origins_are_normalised_like_browsers_send_them() -> None:
    s = Settings(cors_origins="HTTPS://App.Example.com:443, http://127.0.0.1:5173/")  # type: ignore[arg-type]
    assert s.cors_origins == ["https://app.example.com", "http://127.0.0.1:5173"]
