"""Direct dispatch (app.core.dispatch) answers as FastAPI's own route handler would: the same
status and problem document for good requests, bad path/query values, missing credentials
and refused roles, REST and SCIM; the hot read routes take it, through the front door (no
Starlette layer between the request middleware and the route) when they match; overrides
still work."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.routing import APIRoute

from app.core.access import tenant_tx
from app.core.dispatch import FrontDoor, direct_app
from app.core.runtime import Runtime
from app.main import create_app
from tests.conftest import Tenant, asgi_client, assert_problem
from tests.scim.conftest import scim_client


def _route(app: Any, method: str, path: str) -> APIRoute:
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path == path and method in route.methods:
            return route
    raise AssertionError(f"no route {method} {path}")


def test_hot_reads_are_dispatched_directly(app: Any) -> None:
    for method, path in (("GET", "/api/v1/projects/{project_id}"), ("GET", "/api/v1/projects"),
                         ("GET", "/scim/v2/Users"), ("GET", "/api/v1/audit")):
        route = _route(app, method, path)
        assert direct_app(route) is not None, (method, path)
        assert route.app.__qualname__.startswith("direct_app"), (method, path)


def test_routes_with_a_body_keep_fastapis_handler(app: Any) -> None:
    route = _route(app, "POST", "/api/v1/projects")
    assert direct_app(route) is None
    assert not route.app.__qualname__.startswith("direct_app")


async def _answers(app: Any, tenant: Tenant, requests: list[tuple[str, str, dict[str, str]]]
                   ) -> list[tuple[int, Any]]:
    out = []
    async with asgi_client(app, raise_app_exceptions=False) as client:
        for method, path, headers in requests:
            r = await client.request(method, path, headers=headers)
            body = r.json() if r.content else None
            if isinstance(body, dict):
                body.pop("request_id", None)
            out.append((r.status_code, body))
    return out


async def _direct_and_standard_alike(runtime: Runtime, tenant: Tenant,
                                     requests: list[tuple[str, str, dict[str, str]]]
                                     ) -> list[tuple[int, Any]]:
    """The answers of an app as made (direct routes, through the front door) to `requests`,
    checked equal to those of an app whose every route takes FastAPI's own handler."""
    direct = create_app(runtime.settings, runtime=runtime, run_worker=False)
    standard = create_app(runtime.settings, runtime=runtime, run_worker=False)
    # any override sends every request through FastAPI's own handler
    standard.dependency_overrides[_unused_dependency] = _unused_dependency
    got_direct = await _answers(direct, tenant, requests)
    assert got_direct == await _answers(standard, tenant, requests)
    return got_direct


async def test_direct_and_standard_handlers_answer_alike(runtime: Runtime, tenant: Tenant
                                                         ) -> None:
    viewer = await tenant.add_user("viewer")
    r_project = await tenant.sql("INSERT INTO projects (tenant_id, name, slug) VALUES"
                                 " ($1, 'Dispatch', 'dispatch') RETURNING id", tenant.id)
    pid = str(r_project[0]["id"])
    owner = tenant.headers
    requests = [
        ("GET", f"/api/v1/projects/{pid}", owner),
        ("GET", f"/api/v1/projects/{pid.upper()}", owner),
        ("GET", f"/api/v1/projects/{pid.replace('-', '')}", owner),  # pydantic reads it too
        ("GET", "/api/v1/projects/{" + pid + "}", owner),  # and this
        ("GET", "/api/v1/projects/not-a-uuid", owner),
        ("GET", f"/api/v1/projects/{pid}", {}),
        ("GET", f"/api/v1/projects/{pid}", {"Authorization": "Bearer nope"}),
        ("GET", "/api/v1/projects?limit=abc", owner),
        ("GET", "/api/v1/projects?limit=2", owner),
        ("GET", "/api/v1/audit", viewer.headers),  # refused by role
        ("DELETE", f"/api/v1/projects/{pid}x", owner),
    ]
    got_direct = await _direct_and_standard_alike(runtime, tenant, requests)
    statuses = [status for status, _ in got_direct]
    assert statuses == [200, 200, 200, 200, 422, 401, 401, 422, 200, 403, 422]
    assert got_direct[0][1]["id"] == pid


async def _unused_dependency() -> None:
    raise AssertionError("never called")


async def test_dependency_overrides_still_apply(runtime: Runtime, tenant: Tenant) -> None:
    app = create_app(runtime.settings, runtime=runtime, run_worker=False)

    async def refuse() -> None:
        from app.core.errors import Forbidden
        raise Forbidden("overridden", code="overridden")

    app.dependency_overrides[tenant_tx] = refuse
    async with asgi_client(app) as client:
        r = await client.get("/api/v1/projects", headers=tenant.headers)
    assert_problem(r, 403, "overridden")


async def test_a_bad_path_value_is_refused_before_the_handler(client: httpx.AsyncClient,
                                                              tenant: Tenant) -> None:
    r = await client.get("/api/v1/projects/not-a-uuid", headers=tenant.headers)
    body = assert_problem(r, 422, "validation_error")
    assert "project_id" in r.text, body


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": [],
            "query_string": b""}


def _front(app: Any) -> FrontDoor:
    front = FrontDoor.below(app, app.build_middleware_stack().app.app)
    assert front is not None  # below RequestContextMiddleware sits ExceptionMiddleware
    return front


def test_the_front_door_takes_direct_routes_only(app: Any) -> None:
    front = _front(app)
    scope = _scope("GET", "/scim/v2/Users")
    assert front.route_app(scope) is _route(app, "GET", "/scim/v2/Users").app
    assert scope["route"] is _route(app, "GET", "/scim/v2/Users")
    scope = _scope("GET", "/api/v1/projects/6f1c8a53-3bd5-4a4e-9f5e-2f0d7f6b8a11")
    assert front.route_app(scope) is not None
    assert str(scope["path_params"]["project_id"]) == "6f1c8a53-3bd5-4a4e-9f5e-2f0d7f6b8a11"
    assert front.route_app(_scope("POST", "/api/v1/projects")) is None  # FastAPI's handler
    assert front.route_app(_scope("GET", "/api/v1/nowhere")) is None  # 404: the router's
    assert front.route_app(_scope("PUT", "/scim/v2/ServiceProviderConfig")) is None  # 405
    app.dependency_overrides[_unused_dependency] = _unused_dependency
    try:
        assert front.route_app(_scope("GET", "/scim/v2/Users")) is None
    finally:
        app.dependency_overrides.clear()


async def test_scim_answers_alike_through_the_front_door(runtime: Runtime, tenant: Tenant,
                                                         client: httpx.AsyncClient) -> None:
    scim = await scim_client(client, tenant)
    user = await scim.create_user("front.door@example.com")
    h = scim.headers
    requests = [
        ("GET", '/scim/v2/Users?filter=userName eq "front.door@example.com"', h),
        ("GET", '/scim/v2/Users?filter=userName zz "x"', h),  # invalidFilter
        ("GET", f"/scim/v2/Users/{user['id']}", h),
        ("GET", "/scim/v2/Users/not-a-uuid", h),  # SCIM 404
        ("GET", "/scim/v2/Users", {}),  # no token: SCIM 401
        ("GET", "/scim/v2/Users", tenant.headers),  # an API key on SCIM: 401
        ("GET", "/scim/v2/Nowhere", h),  # no route
        ("PUT", "/scim/v2/ServiceProviderConfig", h),  # 405
    ]
    got_direct = await _direct_and_standard_alike(runtime, tenant, requests)
    assert [status for status, _ in got_direct] == [200, 400, 200, 404, 401, 401, 404, 405]
    assert got_direct[0][1]["Resources"][0]["id"] == user["id"]
