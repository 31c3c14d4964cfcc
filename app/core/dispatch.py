"""Direct dispatch: a route's handler called without FastAPI's generic per-request machinery.

For every request FastAPI's route app (`fastapi.routing.request_response` and
`get_request_handler`) opens two `AsyncExitStack`s, builds a throw-away `Response`, parses the
cookies, and walks the endpoint's dependency tree with `solve_dependencies`, checking at every
node for overrides, generators, thread-pool functions, background tasks and security scopes.
None of that is used by most of this service's routes: their dependencies are async functions
of the request and of each other (the platform's `tenant_tx`, `current_principal`,
`require_role(...)`, `scim_tx`, ...), their parameters come from the path, the query string
and headers, and they return a `Response` themselves (app.core.responses).

`install_direct_dispatch(app)` (called by create_app) gives each such route an ASGI app that
does only that work, in FastAPI's order and with FastAPI's own validation:

1. the dependencies, depth first in declaration order, each called once per request (FastAPI's
   dependency cache: the same `cache_key`, the same `use_cache` rule);
2. the path, query, header and cookie parameters, validated by FastAPI's
   `request_params_to_args` (so a bad value gets exactly the 422 FastAPI would give);
3. the endpoint, whose Response is sent. Exceptions propagate to Starlette's
   ExceptionMiddleware, which renders them with the same exception handlers the standard
   route app would have used (both read `scope["starlette.exception_handlers"]`).

A route is left to FastAPI when anything in it needs the generic machinery: a request body,
a dependency that is a generator, a plain `def`, or takes parameters of its own, special
parameters (Response, BackgroundTasks, SecurityScopes, WebSocket), or an endpoint not annotated
to return a Response. While `app.dependency_overrides` is non-empty (tests), every route takes
the standard path, so overrides keep working. docs/ARCHITECTURE.md, "A request".

It reads FastAPI's `Dependant` model and calls its `request_params_to_args` (FastAPI is pinned
in requirements.lock); tests/core/test_dispatch.py sends the same requests through both
handlers and compares the answers, so an upgrade that changes either fails there.
"""

from __future__ import annotations

import inspect
import re
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_validation_alias, request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.routing import RouteIndex

# a UUID in its canonical text form, which pydantic and uuid.UUID read alike
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")

Solver = Callable[[Request, dict[Any, Any]], Awaitable[Any]]
SubSolver = tuple[str | None, Solver, Any, bool]  # name, solver, cache key, use_cache


def _special(dep: Dependant) -> bool:
    return bool(dep.websocket_param_name or dep.http_connection_param_name
                or dep.response_param_name or dep.background_tasks_param_name
                or dep.security_scopes_param_name or dep.body_params)


def _sub_solvers(dep: Dependant) -> list[SubSolver] | None:
    subs: list[SubSolver] = []
    for sub in dep.dependencies:
        solver = _compile_dependency(sub)
        if solver is None:
            return None
        subs.append((sub.name, solver, sub.cache_key, sub.use_cache))
    return subs


async def _solve_subs(subs: list[SubSolver], request: Request, cache: dict[Any, Any]
                      ) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, solver, key, use_cache in subs:
        if use_cache and key in cache:
            value = cache[key]
        else:
            value = await solver(request, cache)
            cache.setdefault(key, value)
        if name is not None:
            values[name] = value
    return values


def _compile_dependency(dep: Dependant) -> Solver | None:
    """A solver for an async dependency whose only inputs are the request and other such
    dependencies (None when it needs FastAPI's generic solving)."""
    call = dep.call
    if (call is None or not dep.is_coroutine_callable or dep.is_gen_callable
            or dep.is_async_gen_callable or _special(dep) or dep.path_params
            or dep.query_params or dep.header_params or dep.cookie_params):
        return None
    subs = _sub_solvers(dep)
    if subs is None:
        return None
    request_name = dep.request_param_name

    async def solve(request: Request, cache: dict[Any, Any]) -> Any:
        values = await _solve_subs(subs, request, cache) if subs else {}
        if request_name:
            values[request_name] = request
        return await call(**values)

    return solve


def _returns_response(call: Callable[..., Any]) -> bool:
    try:
        returned = inspect.get_annotations(call, eval_str=True).get("return")
    except Exception:  # an annotation that does not resolve: leave the route to FastAPI
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def _query_params(request: Request) -> Any:
    return request.query_params


def _headers(request: Request) -> Any:
    return request.headers


def _cookies(request: Request) -> Any:
    return request.cookies


PathReader = Callable[[Mapping[str, Any]], dict[str, Any] | None]


def _path_reader(fields: Sequence[Any]) -> PathReader | None:
    """A reader for path parameters that are plain `UUID` or `str` (no constraints): the
    values, or None when one is not in the form it reads alike with pydantic (then FastAPI's
    own validation runs, and answers any error exactly as FastAPI would)."""
    plan: list[tuple[str, bool]] = []
    for field in fields:
        annotation = field.field_info.annotation
        if (annotation not in (UUID, str) or field.field_info.metadata
                or get_validation_alias(field) != field.name):
            return None
        plan.append((field.name, annotation is UUID))

    def read(received: Mapping[str, Any]) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        for name, is_uuid in plan:
            value = received.get(name)
            if is_uuid and isinstance(value, str) and _CANONICAL_UUID.match(value):
                value = UUID(value)
            elif not isinstance(value, UUID if is_uuid else str):
                return None
            values[name] = value
        return values

    return read


def direct_app(route: APIRoute) -> ASGIApp | None:
    """The route's direct ASGI app, or None when it needs FastAPI's generic handler."""
    dep = route.dependant
    call = dep.call
    if (call is None or not dep.is_coroutine_callable or _special(dep)
            or not _returns_response(call)):
        return None
    subs = _sub_solvers(dep)
    if subs is None:
        return None
    standard = route.app
    request_name = dep.request_param_name
    path_fields = dep.path_params
    read_path = _path_reader(path_fields) if path_fields else None
    # FastAPI's other parameter sources, in its order; only those the endpoint has
    params = [(fields, source) for fields, source in (
        (dep.query_params, _query_params), (dep.header_params, _headers),
        (dep.cookie_params, _cookies)) if fields]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        fastapi_app = scope.get("app")
        if fastapi_app is not None and getattr(fastapi_app, "dependency_overrides", None):
            await standard(scope, receive, send)
            return
        request = Request(scope, receive, send)
        values = await _solve_subs(subs, request, {}) if subs else {}
        errors: list[Any] = []
        if path_fields:
            received = scope.get("path_params", {})
            found = read_path(received) if read_path is not None else None
            if found is None:
                found, errors = request_params_to_args(path_fields, received)
            values.update(found)
        for fields, source in params:
            found, bad = request_params_to_args(fields, source(request))
            values.update(found)
            errors.extend(bad)
        if errors:
            raise RequestValidationError(errors)
        if request_name:
            values[request_name] = request
        response: Response = await call(**values)
        await response(scope, receive, send)

    return app


def install_direct_dispatch(app: FastAPI) -> int:
    """Give every eligible API route its direct app; returns how many routes got one."""
    count = 0
    for route in app.routes:
        if isinstance(route, APIRoute):
            direct = direct_app(route)
            if direct is not None:
                route.app = direct
                _DIRECT_APPS.add(direct)
                count += 1
    return count


# the direct apps install_direct_dispatch gave routes (a route whose app was replaced since,
# or that never had one, is not in it)
_DIRECT_APPS: weakref.WeakSet[ASGIApp] = weakref.WeakSet()


class FrontDoor:
    """Direct routes entered right below RequestContextMiddleware.

    Between that middleware and a route's app, Starlette and FastAPI put five layers on every
    request: ExceptionMiddleware, FastAPI's AsyncExitStackMiddleware (an AsyncExitStack, for
    uploaded files), the router, the RouteIndex and Route.handle. A direct route needs only the
    exception handling of those. For a request that fully matches a direct route
    (`RouteIndex.full_match`: the route the router would pick), the middleware calls the
    route's app through `handle`, which wraps it exactly as ExceptionMiddleware does
    (Starlette's `wrap_app_handling_exceptions`, with ExceptionMiddleware's handler tables):
    a handled exception is rendered by the same handler, any other rises to
    ServerErrorMiddleware (500), as before. Everything else takes the full stack: a path
    without a full match (404, 405, the trailing-slash redirect), a route FastAPI handles,
    and every route while dependency overrides are set. tests/core/test_dispatch.py sends the
    same requests both ways."""

    def __init__(self, app: FastAPI, exceptions: ExceptionMiddleware) -> None:
        self.app = app
        # ExceptionMiddleware's own tables: the handlers it would use, defaults included
        self.handlers = (exceptions._exception_handlers, exceptions._status_handlers)

    @classmethod
    def below(cls, app: Any, inner: ASGIApp) -> FrontDoor | None:
        """The front door for a middleware whose next layer is `inner` in `app`'s stack (None
        when that layer is not Starlette's ExceptionMiddleware of a FastAPI app)."""
        if isinstance(app, FastAPI) and isinstance(inner, ExceptionMiddleware):
            return cls(app, inner)
        return None

    def route_app(self, scope: Scope) -> ASGIApp | None:
        """The direct app of the route this request fully matches, with the scope set as the
        router would set it; None when the request should take the full stack."""
        app = self.app
        index = app.router.middleware_stack
        if app.dependency_overrides or not isinstance(index, RouteIndex):
            return None
        found = index.full_match(scope)
        if found is None:
            return None
        route, child_scope = found
        direct: ASGIApp | None = getattr(route, "app", None)
        if direct is None or direct not in _DIRECT_APPS:
            return None
        scope.setdefault("router", app.router)
        scope["route"] = route
        scope.update(child_scope)
        scope["starlette.exception_handlers"] = self.handlers
        return direct

    async def handle(self, direct: ASGIApp, scope: Scope, receive: Receive, send: Send
                     ) -> None:
        """Run `direct`; an exception is rendered by Starlette's own exception wrapper, the one
        ExceptionMiddleware runs, with ExceptionMiddleware's handler tables (`route_app` put
        them in the scope)."""
        request = Request(scope, receive, send)
        await wrap_app_handling_exceptions(direct, request)(scope, receive, send)
