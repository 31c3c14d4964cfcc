"""What the bare ASGI apps (bench/baseline.py, bench/query_path.py) share: the lifespan
protocol and a JSON answer. Kept free of the service's imports: the baseline stays bare."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


async def lifespan(receive: Any, send: Any, startup: Callable[[], Awaitable[None]],
                   shutdown: Callable[[], Awaitable[None]]) -> None:
    """Answer uvicorn's lifespan messages: `startup` before serving, `shutdown` at the end."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def json_default(value: Any) -> Any:
    """orjson's fallback for what it cannot serialise (Decimal, asyncpg's types): str()."""
    return str(value)


async def send_json(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
