"""The prefix route index (app.core.routing) answers every request as Starlette's linear scan
would: the same route, the same 401/404/405/422 problem or trailing-slash redirect."""

from __future__ import annotations

import re

import httpx

from app.config import Settings
from app.core.routing import RouteIndex
from app.core.runtime import Runtime
from app.main import create_app

SAMPLE_ID = "0b8e7c3e-2f39-4a55-9a0e-5a4f0a6f1b2c"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _paths(app_paths: list[str]) -> list[str]:
    concrete = {re.sub(r"\{[^}]+\}", SAMPLE_ID, p) for p in app_paths}
    variants = set()
    for p in concrete:
        variants |= {p, p.rstrip("/") or "/", p + "/", p + "/extra", p[:-1] if len(p) > 1 else p}
    variants |= {"/", "/nope", "/api/v1/nope/x/y", "/api/v1/projects//x", "/scim/v2/"}
    return sorted(variants)


async def _answers(app: object, paths: list[str]) -> dict[tuple[str, str], tuple[int, str]]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    out = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path in paths:
            for method in METHODS:
                r = await client.request(method, path, content=b"")
                problem = (r.json().get("code", "") if r.headers.get("content-type", "")
                           .startswith("application/problem+json") else "")
                out[(method, path)] = (r.status_code, problem or r.headers.get("location", ""))
    return out


async def test_the_index_answers_every_route_like_the_linear_scan(runtime: Runtime) -> None:
    indexed = create_app(runtime.settings, runtime=runtime, run_worker=False)
    linear = create_app(runtime.settings, runtime=runtime, run_worker=False)
    assert isinstance(indexed.router.middleware_stack, RouteIndex)
    linear.router.middleware_stack = linear.router.app  # Starlette's own scan
    paths = _paths([getattr(r, "path", "/") for r in indexed.router.routes])
    got, want = await _answers(indexed, paths), await _answers(linear, paths)
    assert got == want
    statuses = {status for status, _ in got.values()}
    # the grid reaches authenticated routes, misses, 405s and redirects
    assert {401, 404, 405, 307}.issubset(statuses), statuses
    assert (("GET", f"/api/v1/projects/{SAMPLE_ID}") in got
            and got[("GET", f"/api/v1/projects/{SAMPLE_ID}")] == (401, "missing_credentials"))


async def test_a_route_added_after_the_app_was_made_is_routed() -> None:
    app = create_app(Settings(run_worker=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/api/v1/_probe/x")).status_code == 404  # index built

        async def probe(kind: str) -> dict[str, str]:
            return {"kind": kind}

        app.add_api_route("/api/v1/_probe/{kind}", probe, methods=["GET"])
        r = await client.get("/api/v1/_probe/x")
        assert r.status_code == 200 and r.json() == {"kind": "x"}
        r = await client.post("/api/v1/_probe/x")
        assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
