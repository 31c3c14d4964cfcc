"""RFC 9457 problem+json errors with a stable machine `code`.

Routers and services raise ProblemError (or a subclass); the handlers in install_handlers()
render it. Paths with a registered renderer (SCIM) render their own error format instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger("drift.errors")

PROBLEM_JSON = "application/problem+json"

# Text inputs refuse NUL characters (app.core.inputs); the pattern that says so, and its words.
NUL_FREE_PATTERN = r"^[^\x00]*$"
NUL_MESSAGE = "Text must not contain NUL characters (\\u0000)"
# A name or label: NUL-free, and not blank (it is stripped first, so "  " is refused: the
# pattern documents that, so what the schema accepts the service accepts).
NON_BLANK_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"

T = TypeVar("T")


class ProblemError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.headers = dict(headers or {})
        self.extra = extra


class BadRequest(ProblemError):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(ProblemError):
    status, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str = "Missing or invalid credentials", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(ProblemError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(ProblemError):
    status, code, title = 404, "not_found", "Not found"


def found(row: T | None, detail: str, *, code: str | None = None) -> T:
    """`row`, or a 404 NotFound(detail, code=code) when the lookup found nothing (a row of
    another tenant is nothing too, under RLS)."""
    if row is None:
        raise NotFound(detail, code=code)
    return row


class Conflict(ProblemError):
    status, code, title = 409, "conflict", "Conflict"


class Gone(ProblemError):
    status, code, title = 410, "gone", "Gone"


class PaymentRequired(ProblemError):
    status, code, title = 402, "payment_required", "Payment required"


class TooManyRequests(ProblemError):
    status, code, title = 429, "rate_limited", "Too many requests"


class ServiceUnavailable(ProblemError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


class PayloadTooLarge(StarletteHTTPException):
    """A request body over its limit (raised by RequestContextMiddleware while the body arrives;
    an HTTPException so FastAPI's body parsing re-raises it instead of turning it into a 400).
    Rendered 413 `payload_too_large`, or as a SCIM Error under /scim/v2."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit), headers={"Connection": "close"})
        self.limit = limit


def too_large_detail(limit: int) -> str:
    size = f"{limit // 1_048_576} MiB" if limit % 1_048_576 == 0 else f"{limit} bytes"
    return (f"The request body is larger than this route accepts ({limit} bytes = {size}); "
            "nothing was read or changed. Send a smaller body.")


def problem_response(
    status: int, code: str, title: str, detail: str, instance: str | None = None,
    headers: Mapping[str, str] | None = None, **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": f"https://docs.drift.dev/errors/{code}",
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(orjson.dumps(body, default=str), status_code=status,
                    media_type=PROBLEM_JSON, headers=dict(headers or {}))


# A path prefix can render errors its own way (SCIM uses its Error schema): registered per app
# by create_app, kept in app.state.error_renderers.
ErrorRenderer = Callable[[Request, int, str, str, str | None], Response]


def register_renderer(app: FastAPI, prefix: str, renderer: ErrorRenderer) -> None:
    renderers = getattr(app.state, "error_renderers", None)
    if renderers is None:
        renderers = app.state.error_renderers = {}
    renderers[prefix] = renderer


def _render(request: Request, status: int, code: str, title: str, detail: str,
            headers: Mapping[str, str] | None = None, **extra: Any) -> Response:
    app = request.scope.get("app")
    renderers: dict[str, ErrorRenderer] = (
        getattr(app.state, "error_renderers", {}) if app is not None else {})
    for prefix, renderer in renderers.items():
        if request.url.path.startswith(prefix):
            resp = renderer(request, status, code, detail, extra.get("scim_type"))
            for k, v in (headers or {}).items():
                resp.headers[k] = v
            return resp
    return problem_response(status, code, title, detail, instance=request.url.path,
                            headers=headers, **{k: v for k, v in extra.items() if k != "scim_type"})


def error_response(request: Request, status: int, code: str, title: str, detail: str,
                   headers: Mapping[str, str] | None = None, **extra: Any) -> Response:
    """An error in the format the path calls for (problem+json, or the registered renderer's),
    for code outside FastAPI's exception handlers (the pure ASGI middleware and checks that
    answer before routing)."""
    return _render(request, status, code, title, detail, headers=headers, **extra)


DB_UNAVAILABLE = (
    OSError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,
    # What asyncpg raises when a pooled connection is used in the moment between the server
    # terminating its session (shutdown, restart) and the socket's end being noticed: "cannot
    # switch to state N; another operation (2) is in progress" (MagicStack/asyncpg#1069).
    asyncpg.exceptions.InternalClientError,
    TimeoutError,
)


TRANSIENT = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.QueryCanceledError,  # statement_timeout / lock_timeout under load
)


def _json_position(doc: object, pos: object) -> str:
    """`line N, column M` (1-based) of character offset `pos` in the request body."""
    if not isinstance(doc, str) or not isinstance(pos, int):
        return f"character {pos}"
    line = doc.count("\n", 0, pos) + 1
    column = pos - (doc.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = []
    parts = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":  # FastAPI's loc is ("body", character offset)
            loc_ = err.get("loc", ())
            where = _json_position(exc.body, loc_[-1] if loc_ else None)
            reason = str(err.get("ctx", {}).get("error", "")) or "malformed"
            msg = f"The body is not valid JSON at {where}: {reason}."
            errors.append({"field": f"body ({where})", "message": msg})
            parts.append(msg)
            continue
        # A tagged union (e.g. the event body, discriminated by `type`) puts the tag value in
        # the location; tags carry a dot, field names never do, so drop them for the reader.
        loc = [str(p) for p in err.get("loc", ()) if p != "body"
               and not (isinstance(p, str) and "." in p)]
        if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            loc.append(str(err.get("ctx", {}).get("discriminator", "type")).strip("'"))
        field = ".".join(loc) or "body"
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "string_pattern_mismatch":
            pattern = err.get("ctx", {}).get("pattern")
            if pattern == NUL_FREE_PATTERN:
                msg = NUL_MESSAGE
            elif pattern == NON_BLANK_PATTERN:
                msg = "Text must not be blank or contain NUL characters (\\u0000)"
        errors.append({"field": field, "message": msg})
        parts.append(f"{field}: {msg}")
    return "; ".join(parts) or "Invalid request", errors


def _request_id(request: Request) -> str | None:
    ctx = request.scope.get("state", {}).get("ctx")
    return getattr(ctx, "request_id", None)


def _allowed_methods(request: Request) -> list[str]:
    """Every method the routes of this path serve (Starlette lists only the first route's).
    A literal route (`/members/count`) is the resource when it matches, not a templated
    sibling (`/members/{user_id}`) that would also match the text."""
    literal: set[str] = set()
    templated: set[str] = set()
    for route in request.app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is None or not regex.match(request.url.path):
            continue
        methods = set(getattr(route, "methods", None) or ())
        if "{" in getattr(route, "path", ""):
            templated |= methods
        else:
            literal |= methods
    return sorted(literal or templated)


def render_problem(request: Request, exc: ProblemError) -> Response:
    return _render(request, exc.status, exc.code, exc.title, exc.detail,
                   headers=exc.headers, **exc.extra)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> Response:
        return render_problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if isinstance(exc.body, bytes | bytearray) and exc.body:
            # FastAPI parses a body as JSON only when its Content-Type is application/json or
            # application/*+json; any other type reaches validation as raw bytes.
            sent = request.headers.get("content-type") or "none"
            return _render(request, 415, "unsupported_media_type", "Unsupported media type",
                           f"This route takes a JSON body; send it with Content-Type: "
                           f"application/json (the request said {sent[:100]!r}).",
                           headers={"Accept": "application/json"},
                           scim_type="invalidSyntax")
        detail, errors = _validation_detail(exc)
        return _render(request, 422, "validation_error", "Invalid request", detail,
                       errors=errors, scim_type="invalidValue")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
                 403: "forbidden", 400: "bad_request", 413: "payload_too_large",
                 415: "unsupported_media_type"}
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        detail = str(exc.detail) if exc.detail else code.replace("_", " ")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No route matches {request.method} {request.url.path}"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            detail = (f"{request.method} is not allowed on {request.url.path}; "
                      f"use {', '.join(allowed)}.")
        return _render(request, exc.status_code, code, code.replace("_", " ").capitalize(),
                       detail, headers=headers)

    async def _unhandled(request: Request, exc: Exception) -> Response:
        # Safety net for input the validators let through but PostgreSQL cannot store: the
        # request's transaction rolls back (status >= 400), so nothing is written.
        if isinstance(exc, UnicodeEncodeError):
            return _render(request, 400, "invalid_text", "Bad request",
                           "The request contains text that is not valid Unicode "
                           "(an unpaired surrogate); send UTF-8 text.",
                           scim_type="invalidValue")
        if isinstance(exc, asyncpg.exceptions.DataError):
            # The driver's text names query arguments and encodings, never a field: it goes
            # to the log with the request id, the client gets what to check.
            rid = _request_id(request)
            log.warning("database refused a value on %s %s (request %s): %s: %s",
                        request.method, request.url.path, rid, type(exc).__name__, exc)
            return _render(request, 400, "invalid_value", "Bad request",
                           "A value in the request cannot be stored or compared: a number or "
                           "date is out of range, or text contains a character that cannot be "
                           "stored. Check the values you sent; the request id identifies this "
                           "refusal in the service's log.",
                           scim_type="invalidValue", request_id=rid)
        if isinstance(exc, asyncpg.exceptions.CheckViolationError | asyncpg.exceptions.
                      NotNullViolationError):
            log.warning("constraint refused input on %s %s: %s", request.method,
                        request.url.path, exc)
            return _render(request, 400, "invalid_value", "Bad request",
                           "A value is out of the allowed range or missing.",
                           scim_type="invalidValue")
        if isinstance(exc, TRANSIENT):
            # rolled back as a whole (status >= 400): nothing was written, a retry can succeed
            log.warning("transient database conflict on %s %s: %r", request.method,
                        request.url.path, exc)
            return _render(request, 503, "transient_conflict", "Service unavailable",
                           "The request collided with concurrent work and was rolled back; "
                           "nothing was changed. Retry it.", headers={"Retry-After": "1"})
        if isinstance(exc, DB_UNAVAILABLE):
            log.warning("database unavailable: %r", exc)
            return _render(request, 503, "database_unavailable", "Service unavailable",
                           "The database is unavailable; retry shortly.",
                           headers={"Retry-After": "2"})
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _render(request, 500, "internal_error", "Internal server error",
                       "An unexpected error occurred; it has been logged.")

    # The known failures are handled inside the middleware stack (Starlette's
    # ExceptionMiddleware): their response passes RequestContextMiddleware, which rolls the
    # request's transaction back and releases its connection, and the connection to the client
    # stays usable. Only `Exception` itself goes to ServerErrorMiddleware, which re-raises
    # after responding, so the server logs the traceback and closes the client's connection:
    # right for a bug, wrong for "the database is restarting".
    for known in (UnicodeEncodeError, asyncpg.exceptions.DataError,
                  asyncpg.exceptions.CheckViolationError,
                  asyncpg.exceptions.NotNullViolationError, *TRANSIENT, *DB_UNAVAILABLE):
        app.add_exception_handler(known, _unhandled)
    app.add_exception_handler(Exception, _unhandled)
