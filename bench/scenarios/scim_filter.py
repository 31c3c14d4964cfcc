"""GET /scim/v2/Users?filter=userName eq "..." in a tenant of 10,000 users (100 tenants),
against the raw asyncpg baseline running the same lookup (bench/baseline.py "scim_user")."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from app.core.db import connect
from app.core.tx import own_tx
from bench.run import Env, ScenarioResult, http_compare
from bench.scenarios.scim_common import headers, scim_tokens
from bench.wrk import Req

NAME = "scim_filter"
ORDER = 30
DESCRIPTION = 'GET /scim/v2/Users?filter=userName eq "...", 10,000 users in the tenant'
TARGET = "service/baseline ratio >= 0.5"

USERS = 10_000
LOOKUPS = 1_000  # distinct userNames the load rotates through


def user_name(i: int) -> str:
    return f"scim.user{i:05d}@bench.example"


async def seed_users(env: Env, tenant_id: str, users: int = USERS, *,
                     analyze: bool = True) -> bool:
    """Give the tenant `users` SCIM users named user_name(0..users-1); True if any were added.
    `analyze=False` leaves the ANALYZE to the caller (when seeding many tenants)."""
    async with own_tx(env.rt.db, uuid.UUID(tenant_id)) as tx:
        have = int(await tx.fetchval(
            "SELECT count(*) FROM users WHERE user_name LIKE 'scim.user%@bench.example'"))
        if have >= users:
            return False
        await tx.execute(
            "INSERT INTO users (tenant_id, user_name, email, display_name, external_id,"
            " scim_resource)"
            " SELECT $1, format('scim.user%s@bench.example', lpad(n::text, 5, '0')),"
            "  format('scim.user%s@bench.example', lpad(n::text, 5, '0')),"
            "  format('User %s', n), format('00u%s', n),"
            "  jsonb_build_object('displayName', format('User %s', n),"
            "   'name', jsonb_build_object('givenName', 'User', 'familyName', n::text),"
            "   'emails', jsonb_build_array(jsonb_build_object("
            "     'value', format('scim.user%s@bench.example', lpad(n::text, 5, '0')),"
            "     'type', 'work', 'primary', true)))"
            " FROM generate_series($2::int, $3::int - 1) n",
            tx.tenant_id, have, users)
    if analyze:
        await analyze_users(env)
    return True


async def analyze_users(env: Env) -> None:
    owner = await connect(env.owner_url)
    try:
        await owner.execute("ANALYZE users")
    finally:
        await owner.close()


async def run(env: Env) -> ScenarioResult:
    tenant_id = env.tenants[0]["tenant_id"]
    await seed_users(env, tenant_id)
    token = (await scim_tokens(env, [tenant_id]))[tenant_id]
    app_load, base_load = [], []
    step = USERS // LOOKUPS
    for i in range(0, USERS, step):
        name = user_name(i)
        flt = quote(f'userName eq "{name}"', safe="")
        app_load.append(Req("GET", f"/scim/v2/Users?filter={flt}", headers(token)))
        base_load.append(Req("GET", f"/q/scim_user/{tenant_id}/{quote(name, safe='@')}"))
    return http_compare(env, app_load, base_load)
