"""Route recipes for the whole-API walkers in test_route_walk.py.

Each domain's tests/<domain>/recipes.py registers, for its routes:
- @audited(METHOD, "/openapi/path/{template}"): performs one *successful* call of that route
  (doing any setup first) and returns its response; the walker checks that the response is
  2xx/3xx and that the tenant's audit log has an event with that response's X-Request-ID.
- @cross_tenant(METHOD, "/openapi/path/{template}"): creates the resource in env.tenant and
  returns the calls (method, concrete url, httpx kwargs) that env.other's admin then makes on
  it; each must get 404 (SCIM routes: 404 with the SCIM error schema).

A mutating route (POST/PUT/PATCH/DELETE) without an @audited recipe, or a route with a path
parameter without a @cross_tenant recipe, fails the walk unless it is listed in
AUDIT_EXEMPT / CROSS_TENANT_EXEMPT with the reason.

A recipe calls the API as env.tenant's owner with `env.as_owner(METHOD, url, json=...)`, and
creates what it needs first with `env.created(url, body)` (POST, 201 expected, the body).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.core.runtime import Runtime
from tests.conftest import Tenant

Call = tuple[str, str, dict[str, Any]]


@dataclass
class Env:
    client: httpx.AsyncClient
    tenant: Tenant
    other: Tenant
    runtime: Runtime

    async def as_owner(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One call of `url` with env.tenant's owner credential (what most recipes make)."""
        return await self.client.request(method, url, headers=self.tenant.headers, **kwargs)

    async def created(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` to `url` as the owner, expect 201: the created resource (a recipe's
        setup)."""
        r = await self.as_owner("POST", url, json=body)
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out


AuditRecipe = Callable[[Env], Awaitable[httpx.Response]]
CrossRecipe = Callable[[Env], Awaitable[list[Call]]]

AUDITED: dict[tuple[str, str], AuditRecipe] = {}
CROSS_TENANT: dict[tuple[str, str], CrossRecipe] = {}

# Mutating routes that record nothing, and why.
AUDIT_EXEMPT: dict[tuple[str, str], str] = {}
# Routes with path parameters that are not tenant resources, and why.
CROSS_TENANT_EXEMPT: dict[tuple[str, str], str] = {}


def audited(method: str, path: str) -> Callable[[AuditRecipe], AuditRecipe]:
    def register(fn: AuditRecipe) -> AuditRecipe:
        AUDITED[(method.upper(), path)] = fn
        return fn
    return register


def cross_tenant(method: str, path: str) -> Callable[[CrossRecipe], CrossRecipe]:
    def register(fn: CrossRecipe) -> CrossRecipe:
        CROSS_TENANT[(method.upper(), path)] = fn
        return fn
    return register


def load_all() -> None:
    """Import every tests/<domain>/recipes.py."""
    root = Path(__file__).parent
    for info in pkgutil.iter_modules([str(root)]):
        if info.ispkg and (root / info.name / "recipes.py").exists():
            importlib.import_module(f"tests.{info.name}.recipes")
