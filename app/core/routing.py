"""A prefix index in front of the app's router, so a request only tries routes that can match.

Starlette's `Router.app` tries every route's regex in order (about 130 routes here): the first
full match wins, else the first partial match (the path matches, the method does not: 405),
else 404 or the trailing-slash redirect. A route's regex starts with its path up to the first
`{` (its *literal prefix*, re-escaped), so a route can only match (fully or partially) a path
that starts with that literal. `RouteIndex` keeps, per *key* (the request path up to and
including its fourth `/`, or the whole path when it has fewer), the routes in their original
order whose literal prefix is compatible with the key, and tries only those, with the same
first-full-else-first-partial rule. When none matches it hands the request to Starlette's own
`Router.app`, which then scans every route (none can match) and answers 404 or the redirect
exactly as before. So the route a request gets, and every 404/405/redirect, is unchanged.

The index follows the router's route list: a route added after it was built (tests add probe
routes to a made app) rebuilds it on the next request. The key cache is bounded.
"""

from __future__ import annotations

from starlette._utils import get_route_path  # the path Route.matches matches (root_path off)
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Scope, Send

MAX_KEYS = 2048
KEY_DEPTH = 4  # the key ends at the path's fourth "/": "/api/v1/projects/"


def literal_prefix(route: BaseRoute) -> str:
    """What every path this route matches starts with ("" when unknown: always tried)."""
    if isinstance(route, Route | Mount):
        return route.path.split("{", 1)[0]
    return ""


def path_key(path: str) -> tuple[str, bool]:
    """The key for a request path, and whether the path goes on past it."""
    end = -1
    for _ in range(KEY_DEPTH):
        end = path.find("/", end + 1)
        if end < 0:
            return path, False
    return path[:end + 1], len(path) > end + 1


class RouteIndex:
    """`Router.app` with the routes narrowed by the path's key first (http requests only)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.fallback = router.app
        self._routes: list[BaseRoute] | None = None
        self._count = -1
        self._prefixes: list[tuple[str, BaseRoute]] = []
        self._keys: dict[tuple[str, bool], tuple[BaseRoute, ...]] = {}

    def _candidates(self, key: str, truncated: bool) -> tuple[BaseRoute, ...]:
        routes = self.router.routes
        if routes is not self._routes or len(routes) != self._count:
            self._routes, self._count = routes, len(routes)
            self._prefixes = [(literal_prefix(r), r) for r in routes]
            self._keys = {}
        found = self._keys.get((key, truncated))
        if found is None:
            # the path is `key` (not truncated) or `key` + more: a route can match only if its
            # literal is a prefix of the key, or (more follows) extends the key
            found = tuple(r for prefix, r in self._prefixes
                          if key.startswith(prefix) or (truncated and prefix.startswith(key)))
            if len(self._keys) >= MAX_KEYS:
                self._keys = {}
            self._keys[(key, truncated)] = found
        return found

    def _match(self, scope: Scope) -> tuple[Match, BaseRoute | None, Scope]:
        """The first route that matches fully; else the first that matches the path but not
        the method (PARTIAL: a 405); else NONE."""
        partial: BaseRoute | None = None
        partial_scope: Scope = {}
        for route in self._candidates(*path_key(get_route_path(scope))):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return match, route, child_scope
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:
            return Match.PARTIAL, partial, partial_scope
        return Match.NONE, None, {}

    def full_match(self, scope: Scope) -> tuple[BaseRoute, Scope] | None:
        """The route this http request gets when one matches it fully (path and method), with
        its child scope; None when the router would answer 405, 404 or a redirect."""
        match, route, child_scope = self._match(scope)
        return (route, child_scope) if match is Match.FULL and route is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self.router
        _, route, child_scope = self._match(scope)
        if route is not None:  # a full match, or a 405 (the path matched, the method did not)
            scope["route"] = route
            scope.update(child_scope)
            await route.handle(scope, receive, send)
            return
        await self.fallback(scope, receive, send)  # 404 or the trailing-slash redirect


def install_route_index(router: Router) -> None:
    """Put a RouteIndex in front of `router` (unless something already wraps its app)."""
    if router.middleware_stack == router.app:
        router.middleware_stack = RouteIndex(router)
