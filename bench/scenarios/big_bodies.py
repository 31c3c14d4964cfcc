"""Oversized request bodies: what they cost the API processes.

BENCH_BIG_BODY_CLIENTS (8) clients at once each POST a BENCH_BIG_BODY_MB (200) MB JSON body to
the unauthenticated POST /api/v1/auth/login (the live probe of issue 24: one such body took an
API process from 122 to 484 MB RSS before it answered 422). Two rounds: the body announced by
Content-Length, then chunked (no length for the server to go by). The body is produced by a
generator that re-sends one 1 MiB block, so the client holds 1 MiB per connection, never the
body; everything stays on loopback, and each request has a deadline.

Reported per round: the peak RSS of the API process tree (uvicorn supervisor and workers,
sampled every 50 ms), the statuses (or how the connection ended), how many body bytes the
clients managed to write before the server answered or closed, and the time to the last
answer. The server's RSS is also reported before, and after a settle of 2 s.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from bench.run import Env, ScenarioResult, rss_mb

NAME = "big_bodies"
ORDER = 80
DESCRIPTION = ("8 clients POST 200 MB bodies to /api/v1/auth/login at once (Content-Length, "
               "then chunked): peak RSS of the API processes")
TARGET = "RSS stays flat: 413 before the body is read"

MIB = 1_048_576
BLOCK = b"x" * MIB
DEADLINE = 300.0  # seconds per request, so a stuck server cannot hang the run


def _body(size: int) -> Iterator[bytes]:
    """A JSON login body of exactly `size` bytes whose password is the bulk of it."""
    head = b'{"tenant": "bench-000", "email": "owner@bench-000.example", "password": "'
    tail = b'"}'
    yield head
    left = size - len(head) - len(tail)
    while left > 0:
        n = min(left, MIB)
        yield BLOCK[:n] if n < MIB else BLOCK
        left -= n
    yield tail


async def _post(port: int, size: int, chunked: bool) -> tuple[str, int]:
    """One request; returns (status or how it ended, body bytes written).

    A plain non-blocking socket, not asyncio streams: when the server answers early and closes
    while the body is still being written, the write fails, but the answer is already in the
    receive buffer, and a stream transport would discard it with the failed write."""
    loop = asyncio.get_running_loop()
    sent = 0
    sock = socket.socket()
    sock.setblocking(False)
    try:
        async with asyncio.timeout(DEADLINE):
            await loop.sock_connect(sock, ("127.0.0.1", port))
            framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
            await loop.sock_sendall(sock, b"POST /api/v1/auth/login HTTP/1.1\r\n"
                                    b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                    + framing.encode() + b"\r\n\r\n")
            try:
                for piece in _body(size):
                    await loop.sock_sendall(sock, b"%x\r\n%s\r\n" % (len(piece), piece)
                                            if chunked else piece)
                    sent += len(piece)
                if chunked:
                    await loop.sock_sendall(sock, b"0\r\n\r\n")
            except ConnectionError:
                pass  # the server answered and closed: read what it said
            try:
                first = await loop.sock_recv(sock, 4096)
            except ConnectionError:
                return "reset before an answer", sent
            parts = first.split(b"\r\n", 1)[0].split()
            return (parts[1].decode() if len(parts) > 1 else "closed"), sent
    except TimeoutError:
        return "timeout", sent
    finally:
        sock.close()


async def _round(pid: int, port: int, clients: int, size: int, chunked: bool
                 ) -> dict[str, Any]:
    samples: list[float] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            samples.append(rss_mb(pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    start = time.monotonic()
    results = await asyncio.gather(*[_post(port, size, chunked) for _ in range(clients)])
    elapsed = time.monotonic() - start
    done.set()
    await sampler
    return {"peak_rss_mb": round(max(samples), 1),
            "statuses": dict(Counter(status for status, _ in results)),
            "body_mb_written_per_client": round(max(s for _, s in results) / MIB, 1),
            "seconds": round(elapsed, 2)}


async def run(env: Env) -> ScenarioResult:
    clients = int(os.environ.get("BENCH_BIG_BODY_CLIENTS", "8"))
    size = int(os.environ.get("BENCH_BIG_BODY_MB", "200")) * MIB
    pid = env.extras["servers"].pids()[0]  # drift-cloud serve (the process tree: + workers)
    port = int(env.api.rsplit(":", 1)[1])
    rss_start = rss_mb(pid)
    by_length = await _round(pid, port, clients, size, chunked=False)
    by_chunks = await _round(pid, port, clients, size, chunked=True)
    await asyncio.sleep(2.0)
    metrics = {
        "clients": clients, "body_mb": size // MIB,
        "rss_before_mb": round(rss_start, 1),
        "content_length_peak_rss_mb": by_length["peak_rss_mb"],
        "content_length_statuses": by_length["statuses"],
        "content_length_mb_written": by_length["body_mb_written_per_client"],
        "content_length_seconds": by_length["seconds"],
        "chunked_peak_rss_mb": by_chunks["peak_rss_mb"],
        "chunked_statuses": by_chunks["statuses"],
        "chunked_mb_written": by_chunks["body_mb_written_per_client"],
        "chunked_seconds": by_chunks["seconds"],
        "rss_after_mb": round(rss_mb(pid), 1),
    }
    return ScenarioResult(name=NAME, target=TARGET, metrics=metrics,
                          rounds=[{"content_length": by_length, "chunked": by_chunks}])
