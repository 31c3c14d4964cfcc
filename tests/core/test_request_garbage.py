"""A request leaves no reference cycles behind: its objects are freed when it ends, not by a
later full garbage collection (which pauses the whole process: under the mixed load such
pauses doubled the p99)."""

from __future__ import annotations

import gc
from typing import Any

from tests.conftest import Tenant

REQUESTS = 50


async def _get(app: Any, path: str, token: str) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 40000), "server": ("testserver", 80),
             "headers": [(b"host", b"testserver"),
                         (b"authorization", f"Bearer {token}".encode())]}
    statuses = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0]


async def test_reads_leave_no_reference_cycles(app: Any, tenant: Tenant) -> None:
    rows = await tenant.sql("INSERT INTO projects (tenant_id, name, slug) VALUES"
                            " ($1, 'Garbage', 'garbage') RETURNING id", tenant.id)
    path = f"/api/v1/projects/{rows[0]['id']}"
    for _ in range(5):  # warm: caches filled, statements prepared
        assert await _get(app, path, tenant.owner.api_key) == 200
    gc.collect()
    gc.disable()
    try:
        for _ in range(REQUESTS):
            assert await _get(app, path, tenant.owner.api_key) == 200
        unreachable = gc.collect()
    finally:
        gc.enable()
    # one cycle per request would leave dozens of objects per request for the collector
    assert unreachable < REQUESTS, unreachable
