"""A small HTTP/1.1 client for webhook requests: asyncio streams + h11, keep-alive per origin.

Why not httpx/httpcore here: measured on the 2-core machine, httpcore's pool managed ~180
POSTs/s to a local receiver where asyncio + h11 managed >1,000 with the same concurrency,
and webhook delivery is the one hot HTTP client path in the service.

What it does, and only that:
- POST with a fixed body; no redirects (a 3xx is just a status), no cookies, no proxies;
- the SSRF guard runs when a connection is opened: resolve, refuse if any address is not
  allowed (app.webhooks.ssrf), then connect to the vetted address itself; over https the TLS
  handshake uses the host name for SNI and certificate verification;
- keeps at most `keep` bytes of the response body, then closes the connection (a huge body is
  never read);
- idle connections are reused for `keepalive` seconds; a reused connection that turns out to
  be closed before any response byte is retried once on a fresh connection.
Time limits are the caller's (asyncio.timeout around `post`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import h11

from app.config import Network
from app.webhooks import ssrf

READ_CHUNK = 65536


class ConnectionFailed(Exception):
    """Could not connect, or the connection broke before a complete response."""


@dataclass
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes  # at most `keep` bytes


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0

    def usable(self, now: float, keepalive: float) -> bool:
        return (now - self.idle_since < keepalive and not self.writer.is_closing()
                and not self.reader.at_eof() and self.h11.our_state is h11.IDLE)

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str
    host_header: str


def _target(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("http", "https") or not host:
        raise ssrf.BlockedAddress("only http(s) URLs with a host are delivered")
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    shown = f"[{host}]" if ":" in host else host
    return _Target(scheme, host, port, path,
                   shown if port == default else f"{shown}:{port}")


class Client:
    def __init__(self, allowed: Sequence[Network], *, ssl_context: ssl.SSLContext,
                 keepalive: float = 4.0, max_idle_per_origin: int = 64) -> None:
        self.allowed = list(allowed)
        self.ssl_context = ssl_context
        self.keepalive = keepalive
        self.max_idle = max_idle_per_origin
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for c in conns:
                c.close()
        self._idle.clear()

    async def post(self, url: str, headers: Sequence[tuple[bytes, bytes]], body: bytes, *,
                   keep: int) -> Response:
        t = _target(url)
        key = (t.scheme, t.host, t.port)
        conn = self._take_idle(key)
        if conn is not None:
            try:
                return await self._exchange(key, conn, t, headers, body, keep)
            except _StaleConnection:
                pass  # closed by the server while idle: once more on a fresh connection
        conn = await self._connect(t)
        try:
            return await self._exchange(key, conn, t, headers, body, keep)
        except _StaleConnection as exc:
            raise ConnectionFailed("the server closed the connection without a response") \
                from exc

    def _take_idle(self, key: tuple[str, str, int]) -> _Conn | None:
        conns = self._idle.get(key)
        now = time.monotonic()
        while conns:
            c = conns.pop()
            if c.usable(now, self.keepalive):
                return c
            c.close()
        return None

    def _put_idle(self, key: tuple[str, str, int], conn: _Conn) -> None:
        conns = self._idle.setdefault(key, [])
        if len(conns) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        conns.append(conn)

    async def _connect(self, t: _Target) -> _Conn:
        ips = await ssrf.addresses(t.host, t.port)
        try:
            ssrf.check_addresses(t.host, ips, self.allowed, plain_http=t.scheme == "http")
        except ssrf.UnsafeUrl as exc:
            raise ssrf.BlockedAddress(str(exc)) from None
        tls = t.scheme == "https"
        last: Exception | None = None
        for ip in ips:  # the vetted addresses, in resolver order
            try:
                reader, writer = await asyncio.open_connection(
                    str(ip), t.port, ssl=self.ssl_context if tls else None,
                    server_hostname=t.host if tls else None, limit=READ_CHUNK)
            except (OSError, ssl.SSLError) as exc:
                last = exc
                continue
            return _Conn(reader, writer)
        raise ConnectionFailed(f"could not connect to {t.host}:{t.port}: {last}") from last

    async def _exchange(self, key: tuple[str, str, int], conn: _Conn, t: _Target,
                        headers: Sequence[tuple[bytes, bytes]], body: bytes, keep: int
                        ) -> Response:
        got_bytes = False
        try:
            request = h11.Request(method="POST", target=t.path, headers=[
                (b"Host", t.host_header.encode("ascii")),
                (b"Content-Length", str(len(body)).encode()), *headers])
            conn.writer.write(conn.h11.send(request) + conn.h11.send(h11.Data(data=body))
                              + conn.h11.send(h11.EndOfMessage()))
            await conn.writer.drain()
            status = 0
            resp_headers: list[tuple[bytes, bytes]] = []
            kept = bytearray()
            while True:
                event = conn.h11.next_event()
                if event is h11.NEED_DATA:
                    data = await conn.reader.read(READ_CHUNK)
                    got_bytes = got_bytes or bool(data)
                    conn.h11.receive_data(data)
                    continue
                if isinstance(event, h11.InformationalResponse):
                    continue
                if isinstance(event, h11.Response):
                    status, resp_headers = event.status_code, list(event.headers)
                elif isinstance(event, h11.Data):
                    kept += event.data
                    if len(kept) >= keep:  # enough: the rest is never read
                        conn.close()
                        return Response(status, resp_headers, bytes(kept[:keep]))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise h11.RemoteProtocolError("connection closed")
        except (h11.RemoteProtocolError, h11.LocalProtocolError, OSError,
                ssl.SSLError) as exc:
            conn.close()
            if not got_bytes and isinstance(exc, h11.RemoteProtocolError | ConnectionError):
                raise _StaleConnection from exc
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:  # cancelled (time limit): the connection is in an unknown state
            conn.close()
            raise
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            conn.h11.start_next_cycle()
            self._put_idle(key, conn)
        else:
            conn.close()
        return Response(status, resp_headers, bytes(kept))


class _StaleConnection(Exception):
    """The connection broke before the server sent anything."""
