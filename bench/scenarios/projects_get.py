"""GET /api/v1/projects/{id} with an API key, across 100 tenants (10 projects each)."""

from __future__ import annotations

from app.core.tx import own_tx
from bench.run import Env, ScenarioResult, http_compare
from bench.wrk import Req

NAME = "projects_get"
ORDER = 10
DESCRIPTION = "GET /api/v1/projects/{id}, API key, 100 tenants x 10 projects"
TARGET = "service/baseline ratio >= 0.5"


async def seed_projects(env: Env, per_tenant: int = 10) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t in env.tenants:
        async with own_tx(env.rt.db, t["tenant_id"]) as tx:
            have = [str(r["id"]) for r in await tx.fetch(
                "SELECT id FROM projects WHERE slug LIKE 'bench-%' ORDER BY slug")]
            for i in range(len(have), per_tenant):
                have.append(str(await tx.fetchval(
                    "INSERT INTO projects (tenant_id, name, slug) VALUES ($1, $2, $2)"
                    " RETURNING id", tx.tenant_id, f"bench-{i:02d}")))
        out[t["tenant_id"]] = have
    return out


async def run(env: Env) -> ScenarioResult:
    projects = await seed_projects(env)
    env.extras["projects"] = projects
    app_load, base_load = [], []
    for t in env.tenants:
        for pid in projects[t["tenant_id"]]:
            app_load.append(Req("GET", f"/api/v1/projects/{pid}",
                                {"Authorization": f"Bearer {t['api_key']}"}))
            base_load.append(Req("GET", f"/q/project/{t['tenant_id']}/{pid}"))
    return http_compare(env, app_load, base_load)
