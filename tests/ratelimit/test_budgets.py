"""Per-tenant request budgets: shared by processes, 429 with Retry-After and the RateLimit
fields on REST, a SCIM Error on /scim/v2."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from app.core import clock
from app.core.runtime import Runtime
from tests.conftest import Tenant, app_with, asgi_client, assert_problem, bearer


def _mid_window() -> None:
    """Freeze the app clock 20 s into a 60 s window (so the test never crosses one)."""
    now = datetime.now(UTC).timestamp()
    clock.freeze(datetime.fromtimestamp(math.floor(now / 60) * 60 + 20, UTC))


LIMITS: dict[str, Any] = {"api_rate_limits": {"free": 20, "enterprise": 0},
                          "scim_rate_limits": {"free": 5}, "rate_limit_window_seconds": 60}


async def test_two_apps_share_one_budget_then_429_with_headers(
        runtime: Runtime, make_tenant: Any) -> None:
    _mid_window()
    t: Tenant = await make_tenant(plan="free")
    one, two = app_with(runtime, **LIMITS), app_with(runtime, **LIMITS)
    statuses: list[int] = []
    refused = None
    async with asgi_client(one) as a, asgi_client(two) as b:
        for i in range(50):
            r = await (a if i % 3 else b).get("/api/v1/projects", headers=t.headers)
            statuses.append(r.status_code)
            if r.status_code == 429:
                refused = r
        assert set(statuses) == {200, 429}
        assert statuses.count(200) <= 20  # never more than the budget, across both apps
        assert statuses.count(200) >= 16  # at most one unspent chunk (2) per app is lost
        assert refused is not None
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "rate_limited"
        assert refused.headers["retry-after"] == "40"
        assert refused.headers["ratelimit-policy"] == '"api";q=20;w=60'
        assert refused.headers["ratelimit"] == '"api";r=0;t=40'

        clock.advance(timedelta(seconds=40))  # the next window: a fresh budget
        assert (await a.get("/api/v1/projects", headers=t.headers)).status_code == 200
        assert (await b.get("/api/v1/projects", headers=t.headers)).status_code == 200


async def test_budgets_are_per_tenant_and_per_plan(runtime: Runtime, make_tenant: Any) -> None:
    _mid_window()
    free: Tenant = await make_tenant(plan="free")
    other: Tenant = await make_tenant(plan="free")
    unlimited: Tenant = await make_tenant(plan="enterprise")
    app = app_with(runtime, **LIMITS)
    async with asgi_client(app) as c:
        for _ in range(20):
            assert (await c.get("/api/v1/me", headers=free.headers)).status_code == 200
        assert_problem(await c.get("/api/v1/me", headers=free.headers), 429, "rate_limited")
        assert (await c.get("/api/v1/me", headers=other.headers)).status_code == 200
        for _ in range(40):  # enterprise = 0: no limit
            assert (await c.get("/api/v1/me", headers=unlimited.headers)).status_code == 200
        # login is not counted against the tenant (it has its own throttle)
        r = await c.post("/api/v1/auth/login", json={"tenant": free.slug,
                                                      "email": free.owner.email,
                                                      "password": "wrong"})
        assert_problem(r, 401, "invalid_login")


async def test_scim_budget_exceeded_is_a_scim_error(runtime: Runtime, make_tenant: Any) -> None:
    _mid_window()
    t: Tenant = await make_tenant(plan="free")
    app = app_with(runtime, **LIMITS)
    async with asgi_client(app) as c:
        made = await c.post("/api/v1/settings/scim", headers=t.headers, json={"name": "Okta"})
        assert made.status_code == 201, made.text
        headers = {**bearer(made.json()["token"]), "Accept": "application/scim+json"}
        for _ in range(5):
            assert (await c.get("/scim/v2/Users", headers=headers)).status_code == 200
        r = await c.get("/scim/v2/Users", headers=headers)
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("application/scim+json")
        body = r.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert body["status"] == "429" and "budget" in body["detail"]
        assert r.headers["retry-after"] == "40"
        assert r.headers["ratelimit-policy"] == '"scim";q=5;w=60'
        # the REST budget of the same tenant is separate
        assert (await c.get("/api/v1/me", headers=t.headers)).status_code == 200
