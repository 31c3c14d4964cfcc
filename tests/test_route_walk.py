"""Walk every route in the OpenAPI schema:
- every successful mutation leaves an audit event in the same transaction
  (docs/ARCHITECTURE.md, "Audit log");
- every route that names a resource gives another tenant 404, never the resource.
Recipes live in tests/<domain>/recipes.py (see tests/recipes.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.config import Settings
from app.core.runtime import Runtime
from app.main import create_app
from tests import recipes
from tests.conftest import Tenant, assert_problem
from tests.scim.conftest import assert_scim_error

recipes.load_all()

MUTATING = {"post", "put", "patch", "delete"}


def _schema_routes() -> dict[tuple[str, str], dict[str, Any]]:
    schema = create_app(Settings(run_worker=False)).openapi()
    return {(m.upper(), path): op for path, ops in schema["paths"].items()
            for m, op in ops.items() if m in {"get", *MUTATING}}


ROUTES = _schema_routes()


def test_every_mutating_route_has_an_audit_recipe() -> None:
    mutating = {k for k in ROUTES if k[0].lower() in MUTATING}
    missing = sorted(mutating - recipes.AUDITED.keys() - recipes.AUDIT_EXEMPT.keys())
    assert not missing, ("mutating routes without an @audited recipe (add one in "
                         f"tests/<domain>/recipes.py): {missing}")
    stale = sorted(recipes.AUDITED.keys() - ROUTES.keys())
    assert not stale, f"recipes for routes that no longer exist: {stale}"


def test_every_resource_route_has_a_cross_tenant_recipe() -> None:
    with_ids = {k for k in ROUTES if "{" in k[1]}
    missing = sorted(with_ids - recipes.CROSS_TENANT.keys() - recipes.CROSS_TENANT_EXEMPT.keys())
    assert not missing, ("routes with ids but no @cross_tenant recipe (add one in "
                         f"tests/<domain>/recipes.py): {missing}")


@pytest.fixture
def env(client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant,
        runtime: Runtime) -> recipes.Env:
    return recipes.Env(client=client, tenant=tenant, other=other_tenant, runtime=runtime)


@pytest.mark.parametrize("route", sorted(recipes.AUDITED), ids=lambda r: f"{r[0]} {r[1]}")
async def test_mutation_leaves_an_audit_event(env: recipes.Env, route: tuple[str, str]) -> None:
    response = await recipes.AUDITED[route](env)
    assert response.status_code < 400, f"{route}: recipe failed: {response.text}"
    rid = response.headers["x-request-id"]
    events = await env.tenant.sql(
        "SELECT action, outcome FROM audit_events WHERE request_id = $1", rid)
    assert events, f"{route} succeeded but recorded no audit event"


@pytest.mark.isolation
@pytest.mark.parametrize("route", sorted(recipes.CROSS_TENANT), ids=lambda r: f"{r[0]} {r[1]}")
async def test_other_tenant_gets_404(env: recipes.Env, route: tuple[str, str]) -> None:
    admin = await env.other.add_user("admin")
    calls = await recipes.CROSS_TENANT[route](env)
    assert calls
    for method, url, kwargs in calls:
        headers = {**admin.headers, **kwargs.pop("headers", {})}
        r = await env.client.request(method, url, headers=headers, **kwargs)
        if url.startswith("/scim/v2/"):
            assert_scim_error(r, 404)
        else:  # `not_found` or the resource's own `<resource>_not_found`
            code = r.json().get("code", "") if r.status_code == 404 else ""
            assert code.endswith("not_found") or code == "no_sso_connection", (method, url, r.text)
            assert_problem(r, 404, code, context=f"{method} {url} as another tenant")
