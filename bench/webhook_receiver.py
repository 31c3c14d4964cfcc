"""A minimal, fast webhook receiver for the webhooks_delivery bench scenario.

    python -m bench.webhook_receiver --port 9000

A bare asyncio protocol (uvloop when available) speaking just enough HTTP/1.1 with keep-alive:
the receiver shares the 2 cores with the worker and PostgreSQL, so it should cost as little as
possible. POST anything: 200 "ok", noting the arrival time and the event's `created_at`.
GET /_stats: {"count", "unique", "first", "last", "p50_ms", "p99_ms"}, the latencies being
event-to-delivery (arrival minus the envelope's created_at; same machine, same clock).
POST /_reset forgets everything and answers with the stats it had until then (so a caller can
split a run into phases without losing an arrival between reading and resetting).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import datetime

import orjson

arrivals: list[float] = []
latencies: list[float] = []
ids: set[str] = set()

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def _percentile(values: list[float], q: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _stats() -> bytes:
    return orjson.dumps({
        "count": len(arrivals), "unique": len(ids),
        "first": min(arrivals) if arrivals else None,
        "last": max(arrivals) if arrivals else None,
        "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 1)})


def _record(body: bytes) -> None:
    now = time.time()
    arrivals.append(now)
    try:
        event = orjson.loads(body)
        created = datetime.fromisoformat(event["created_at"].replace("Z", "+00:00"))
        latencies.append(now - created.timestamp())
        ids.add(event["id"])
    except (ValueError, KeyError, TypeError):
        pass


class HttpProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).split(b"\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            body = bytes(self.buf[end + 4:end + 4 + length])
            del self.buf[:end + 4 + length]
            self.handle(head[0], body)

    def handle(self, request_line: bytes, body: bytes) -> None:
        assert self.transport is not None
        method, path = request_line.split(b" ")[:2]
        if (method == b"GET" and path == b"/_stats") or path == b"/_reset":
            out = _stats()
            if path == b"/_reset":
                arrivals.clear()
                latencies.clear()
                ids.clear()
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: " + str(len(out)).encode() + b"\r\n\r\n"
                                 + out)
            return
        _record(body)
        self.transport.write(OK)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HttpProtocol, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(serve(args.port))
    else:
        uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
