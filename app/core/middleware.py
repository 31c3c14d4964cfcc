"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task per request).

RequestContextMiddleware
- gives every request an id (X-Request-ID in and out),
- resolves the client address through the trusted proxies only,
- owns the request's database connection (RequestConnection): the tenant transaction opened
  by the `tenant_tx` dependency is committed right before `http.response.start` when the status
  is below 400, and rolled back otherwise. COMMIT therefore always happens before the client
  hears of success; if COMMIT fails, the client gets a 503 problem instead of the handler's
  response. Work that must survive a refusal (denial audit events) uses its own transaction.
- calls a direct route's app itself (app.core.dispatch.FrontDoor: no Starlette exception
  middleware, exit stack or router between; the same route, the same exception handlers),
- refuses a query string with a NUL character (422 naming the parameter, before routing:
  app.core.inputs.query_text_refusal; a layer of its own cost more than the check),
- refuses request bodies over their limit with 413 before reading them
  (docs/ARCHITECTURE.md, "Security"):
  * a `Content-Length` over the limit: answered at once, not one body byte is read (the server
    closes the connection after the answer instead of draining the body);
  * a `Content-Length` within the limit: `receive` is not wrapped. The server frames the body by
    that length (uvicorn's httptools and h11 parsers both stop at it; extra bytes are parsed as
    the next request and refused as malformed), so the app can never get more than declared;
  * no `Content-Length` (chunked, or HTTP/2): `receive` is wrapped with a byte counter that
    raises PayloadTooLarge (413) as soon as the count passes the limit, so at most one chunk
    beyond the limit is ever held;
  * an HTTP/1.x request with neither header has no body (RFC 9112 6.3): nothing to wrap.
  The limit is `DRIFT_MAX_BODY_BYTES`; paths given in `body_limits` (exact paths, or prefixes
  ending in "/") have their own.
- observes each request (docs/operations.md): the duration histogram and response bytes by
  route template, method and status class (app.core.metrics, label children cached per key),
  the access log line (`drift.access`), the request's context for every log line
  (app.core.logs.current), and a SERVER span when tracing is on (app.core.tracing).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Network
from app.core import tracing
from app.core.context import RequestContext
from app.core.dispatch import FrontDoor
from app.core.errors import (
    PayloadTooLarge,
    ProblemError,
    error_response,
    render_problem,
    too_large_detail,
)
from app.core.inputs import query_text_refusal
from app.core.logs import current as current_context
from app.core.logs import log_access
from app.core.metrics import UNMATCHED_ROUTE, observe_request
from app.core.net import client_ip
from app.core.tx import SAFE_METHODS, PrincipalChanged, RequestConnection

log = logging.getLogger("drift.request")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _commit_failed_body(request_id: str) -> bytes:
    return (b'{"type":"https://docs.drift.dev/errors/commit_failed","title":"Service unavailable",'
            b'"status":503,"code":"commit_failed","detail":"The change could not be saved; '
            b'nothing was changed. Retry the request.","request_id":"'
            + request_id.encode() + b'"}')


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive` that counts body bytes and raises PayloadTooLarge once past `limit`."""
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(limit)
        return message

    return limited_receive


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[Network], *,
                 max_body_bytes: int = 1_048_576,
                 body_limits: Mapping[str, int] | None = None,
                 access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self.trusted_proxies = list(trusted_proxies)
        self.max_body_bytes = max_body_bytes
        self._front: FrontDoor | None = None  # found at the first request (the stack is built)
        self._front_found = False
        limits = dict(body_limits or {})
        self.exact_limits = {p: n for p, n in limits.items() if not p.endswith("/")}
        self.prefix_limits = tuple((p, n) for p, n in limits.items() if p.endswith("/"))

    def body_limit(self, path: str) -> int:
        limit = self.exact_limits.get(path)
        if limit is not None:
            return limit
        for prefix, limit in self.prefix_limits:
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid: str | None = None
        ua: str | None = None
        xff: list[str] = []
        length: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _REQUEST_ID.match(candidate):
                    rid = candidate
            elif name == b"user-agent":
                ua = value.decode("latin-1")[:512]
            elif name == b"x-forwarded-for":
                xff.append(value.decode("latin-1"))
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if rid is None:
            rid = secrets.token_hex(16)
        peer = scope.get("client")
        ctx = RequestContext(
            request_id=rid,
            ip=client_ip(peer[0] if peer else None, xff, self.trusted_proxies),
            user_agent=ua,
            method=scope.get("method"),
            path=scope.get("path"),
        )
        state = scope.setdefault("state", {})
        state["ctx"] = ctx
        token = current_context.set(ctx)
        started = time.perf_counter()
        stat = [0, 0]  # status sent, body bytes sent
        try:
            if tracing.tracer is None:
                await self._handle(scope, receive, send, ctx, rid, length, chunked, stat)
            else:
                await self._traced(scope, receive, send, ctx, rid, length, chunked, stat)
        except BaseException:
            if not stat[0]:
                stat[0] = 500  # what the server answers for an exception
            raise
        finally:
            route = scope.get("route")
            template = route.path if route is not None else UNMATCHED_ROUTE
            elapsed = time.perf_counter() - started
            method = ctx.method or ""
            observe_request(template, method, stat[0], elapsed, stat[1])
            if self.access_log:
                log_access(method, template, stat[0], elapsed, stat[1], ctx)
            current_context.reset(token)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext,
                      rid: str, length: bytes | None, chunked: bool, stat: list[int]) -> None:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        method = ctx.method or ""
        with tracing.tracer.start_as_current_span(
                method, kind=SpanKind.SERVER,
                context=tracing.extract(scope["headers"])) as span:
            try:
                await self._handle(scope, receive, send, ctx, rid, length, chunked, stat)
            finally:
                route = scope.get("route")
                template = route.path if route is not None else UNMATCHED_ROUTE
                span.update_name(f"{method} {template}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", stat[0] or 500)
                span.set_attribute("drift.request_id", rid)
                if ctx.tenant_id is not None:
                    span.set_attribute("drift.tenant_id", str(ctx.tenant_id))
                if not stat[0] or stat[0] >= 500:
                    span.set_status(Status(StatusCode.ERROR))

    async def _handle(self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext,
                      rid: str, length: bytes | None, chunked: bool, stat: list[int]) -> None:
        header = (b"x-request-id", rid.encode("latin-1"))
        if length is not None and not chunked and length.isdigit():
            limit = self.body_limit(ctx.path or "")
            if int(length) > limit:
                stat[0] = 413
                await self._refuse(scope, receive, send, limit, int(length), header)
                return
        elif chunked or length is not None or scope.get("http_version") not in ("1.1", "1.0"):
            # a body of unknown size (chunked; HTTP/2; a Content-Length that is no number,
            # which the server's parser refuses anyway): count it as it arrives
            receive = _limited(receive, self.body_limit(ctx.path or ""))
        runtime = getattr(scope["app"].state, "runtime", None) if "app" in scope else None
        pool_ready = runtime is not None and runtime.db._pool is not None
        try:
            await self._run(scope, receive, send, rid, header, runtime if pool_ready else None,
                            stat)
        except PrincipalChanged:
            # A read-only request found its cached principal stale at its first statement,
            # before anything was sent or written: run it once more, looked up afresh.
            if scope.get("method") not in SAFE_METHODS:
                raise
            await self._run(scope, receive, send, rid, header, runtime if pool_ready else None,
                            stat)

    async def _run(self, scope: Scope, receive: Receive, send: Send, rid: str,
                   header: tuple[bytes, bytes], runtime: Any, stat: list[int]) -> None:
        state = scope["state"]
        rconn: RequestConnection | None = None
        if runtime is not None:
            rconn = RequestConnection(runtime.db.pool)
            state["rconn"] = rconn
        replaced = False

        async def send_wrapper(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start":
                stat[0] = message["status"]
                refused: ProblemError | None = None
                if rconn is not None and message["status"] < 400:
                    try:
                        # a read request writes what it deferred, or has its credential
                        # verified if it ran no statement; an open transaction commits
                        # (with its deferred statements, in the same round trip)
                        if rconn.tx is not None:
                            await rconn.tx.finish()
                        if rconn.in_tx:
                            await rconn.commit()
                    except ProblemError as exc:
                        refused = exc
                    except Exception:
                        log.exception("COMMIT failed for request %s", rid)
                        await rconn.rollback()
                        await rconn.release()
                        replaced = True
                        stat[0] = 503
                        body = _commit_failed_body(rid)
                        await send({"type": "http.response.start", "status": 503,
                                    "headers": [(b"content-type", b"application/problem+json"),
                                                (b"content-length", str(len(body)).encode()),
                                                (b"retry-after", b"2"), header]})
                        await send({"type": "http.response.body", "body": body})
                        return
                elif rconn is not None and rconn.in_tx:
                    await rconn.rollback()
                elif rconn is not None and rconn.tx is not None:
                    # a write that failed before its transaction opened: a refused
                    # credential answers 401 instead
                    try:
                        await rconn.tx.verify_write()
                    except ProblemError as exc:
                        refused = exc
                    except Exception:  # the error response goes out; nothing was written
                        log.warning("could not verify the credential of failed request %s",
                                    rid, exc_info=True)
                if rconn is not None:  # back to the pool as soon as the work is done
                    await rconn.release()
                if refused is not None:  # the credential was refused: that is the answer
                    replaced = True
                    stat[0] = refused.status
                    await _send_problem(scope, send, refused, header)
                    return
                message["headers"] = [*message.get("headers", []), header]
            elif replaced:
                return
            else:
                stat[1] += len(message.get("body", b""))
            await send(message)

        try:
            refusal = query_text_refusal(scope)  # a NUL in the query string: 422 before routing
            if not self._front_found:
                self._front, self._front_found = FrontDoor.below(scope.get("app"), self.app), True
            front = self._front
            direct = front.route_app(scope) if front is not None and refusal is None else None
            if front is not None and direct is not None:  # no layer between (FrontDoor)
                await front.handle(direct, scope, receive, send_wrapper)
            elif refusal is None:
                await self.app(scope, receive, send_wrapper)
            else:
                await refusal(scope, receive, send_wrapper)
        finally:
            if rconn is not None:
                await rconn.release()
                # The request transaction refers back to its connection holder (and through
                # its Freshness to the request): unlink them, so that a request's objects are
                # freed when it ends, not by a full garbage collection later (which paused the
                # process for a mixed load's p99)
                rconn.tx = None

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int,
                      length: int, header: tuple[bytes, bytes]) -> None:
        """413 for a declared body over the limit, without reading any of it."""
        log.info("refused a %d-byte request body on %s %s (limit %d bytes)", length,
                 scope.get("method"), scope.get("path"), limit)
        response = error_response(Request(scope), 413, "payload_too_large",
                                  "Payload too large", too_large_detail(limit),
                                  headers={"Connection": "close"})
        response.raw_headers.append(header)
        await response(scope, receive, send)


async def _send_problem(scope: Scope, send: Send, exc: ProblemError,
                        header: tuple[bytes, bytes]) -> None:
    response = render_problem(Request(scope), exc)
    response.raw_headers.append(header)
    await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
