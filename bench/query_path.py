"""The query-path comparison app: the same RLS read through asyncpg and through SQLAlchemy.

A bare ASGI callable (like bench/baseline.py) under the same uvicorn settings as the service,
connected as the runtime role (drift_app: NOBYPASSRLS, so row-level security applies). Each
route reads one project, the row GET /api/v1/projects/{id} returns, in a tenant transaction,
and returns it as JSON (orjson, the same serialisation for every route):

  /asyncpg/<tenant>/<project>     the service's path: `BEGIN; SELECT set_config(...)` as one
                                  round trip, the SELECT, COMMIT (app.core.db.Database.tenant)
  /asyncpg4/<tenant>/<project>    asyncpg with SQLAlchemy's statement shape: BEGIN, set_config,
                                  SELECT, COMMIT as four round trips
  /sqlalchemy/<tenant>/<project>  SQLAlchemy 2 async engine (create_async_engine, asyncpg
                                  driver), `engine.begin()`, set_config, a Core select() over
                                  app.projects.models.projects, COMMIT

Both drivers use a pool of 10 connections per process and prepared-statement caches (asyncpg's
own; SQLAlchemy's compiled cache plus the asyncpg dialect's prepared statement cache).
"""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.core.db import asyncpg_connect_kwargs
from app.core.tx import begin_tenant_sql
from app.projects.models import projects
from bench.asgi import json_default, lifespan, send_json

COLUMNS = "id, name, slug, description, created_at, updated_at"
SELECT_SQL = f"SELECT {COLUMNS} FROM projects WHERE id = $1"
NAMES = ("id", "name", "slug", "description", "created_at", "updated_at")
SET_TENANT_SQL = "SELECT set_config('app.tenant_id', $1, true)"

_p = projects.c
SA_SELECT = select(_p.id, _p.name, _p.slug, _p.description, _p.created_at,
                   _p.updated_at).where(_p.id == bindparam("project_id"))
SA_SET_TENANT = select(func.set_config("app.tenant_id", bindparam("tenant_id"), True))

_pool: asyncpg.Pool | None = None
_engine: AsyncEngine | None = None


async def _startup() -> None:
    global _pool, _engine
    kwargs = asyncpg_connect_kwargs(os.environ["BENCH_APP_DSN"])
    _pool = await asyncpg.create_pool(min_size=10, max_size=10, **kwargs)

    async def creator() -> asyncpg.Connection:
        return await asyncpg.connect(**kwargs)

    _engine = create_async_engine("postgresql+asyncpg://", async_creator=creator,
                                  pool_size=10, max_overflow=0)
    async with _engine.connect():  # open one now, like the asyncpg pool
        pass


async def _shutdown() -> None:
    if _pool is not None:
        await _pool.close()
    if _engine is not None:
        await _engine.dispose()


async def via_asyncpg(tenant: UUID, project: UUID) -> dict[str, Any] | None:
    assert _pool is not None
    async with _pool.acquire() as conn:
        await conn.execute(begin_tenant_sql(tenant))
        try:
            row = await conn.fetchrow(SELECT_SQL, project)
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
    return dict(row) if row is not None else None


async def via_asyncpg4(tenant: UUID, project: UUID) -> dict[str, Any] | None:
    assert _pool is not None
    async with _pool.acquire() as conn, conn.transaction():
        await conn.execute(SET_TENANT_SQL, str(tenant))
        row = await conn.fetchrow(SELECT_SQL, project)
    return dict(row) if row is not None else None


async def via_sqlalchemy(tenant: UUID, project: UUID) -> dict[str, Any] | None:
    assert _engine is not None
    async with _engine.begin() as conn:
        await conn.execute(SA_SET_TENANT, {"tenant_id": str(tenant)})
        row = (await conn.execute(SA_SELECT, {"project_id": project})).first()
    # Column names are quoted_name (a str subclass) that orjson refuses as keys: plain str.
    return dict(zip(NAMES, row, strict=True)) if row is not None else None


ROUTES = {b"asyncpg": via_asyncpg, b"asyncpg4": via_asyncpg4, b"sqlalchemy": via_sqlalchemy}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send, _startup, _shutdown)
        return
    parts = scope["raw_path"].strip(b"/").split(b"/")
    status, body = 404, b"{}"
    if len(parts) == 3 and parts[0] in ROUTES:
        row = await ROUTES[parts[0]](UUID(parts[1].decode()), UUID(parts[2].decode()))
        if row is not None:  # under RLS another tenant's project is not found
            status, body = 200, orjson.dumps(row, default=json_default)
    await send_json(send, status, body)
