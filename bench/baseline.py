"""The raw asyncpg baseline: no framework, one indexed query per request.

A bare ASGI callable under the same uvicorn (uvloop, httptools, same worker count) as the
service, connected as the PostgreSQL superuser so no RLS or tenant setting is involved:
GET /q/<query>/<arg>/<arg>... runs QUERIES[query] with the path segments as parameters and
returns the row as JSON. Scenarios add the query that matches what their endpoint reads.
"""

from __future__ import annotations

import os
from typing import Any

import asyncpg
import orjson

from bench.asgi import json_default, lifespan, send_json

QUERIES: dict[str, str] = {
    # GET /api/v1/projects/{id}
    "project": "SELECT id, name, slug, description, created_at, updated_at FROM projects"
               " WHERE tenant_id = $1 AND id = $2",
    # GET /scim/v2/Users?filter=userName eq "..."
    "scim_user": "SELECT * FROM users WHERE tenant_id = $1 AND lower(user_name) = lower($2)",
    # GET /api/v1/audit?... (a filtered page)
    "audit_page": "SELECT * FROM audit_events WHERE tenant_id = $1 AND action = $2"
                  " ORDER BY seq DESC LIMIT 50",
}

_pool: asyncpg.Pool | None = None


async def _startup() -> None:
    global _pool
    _pool = await asyncpg.create_pool(os.environ["BENCH_DSN"], min_size=4, max_size=10)


async def _shutdown() -> None:
    if _pool is not None:
        await _pool.close()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send, _startup, _shutdown)
        return
    parts = scope["path"].strip("/").split("/")
    status, body = 404, b"{}"
    if len(parts) >= 2 and parts[0] == "q" and parts[1] in QUERIES and _pool is not None:
        rows = await _pool.fetch(QUERIES[parts[1]], *parts[2:])
        status = 200
        body = orjson.dumps([dict(r) for r in rows] if len(rows) != 1 else dict(rows[0]),
                            default=json_default)
    await send_json(send, status, body)
