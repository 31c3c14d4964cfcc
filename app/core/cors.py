"""Cross-origin access for browser clients: `DRIFT_CORS_ORIGINS` (exact origins only).

Starlette's CORSMiddleware (pure ASGI, like RequestContextMiddleware) added outermost, so every
answer the API gives an allowed origin carries the CORS headers, the 413 that the body limit
sends before routing included, and a preflight is answered before any other work (no request
connection, no authentication). Nothing is added when no origin is configured.

- Only the configured origins are echoed in Access-Control-Allow-Origin, never `*`, and
  every response says `Vary: Origin` so a cache never serves one origin's answer to another.
- No Access-Control-Allow-Credentials: the API authenticates with a bearer header, which a
  page sends itself; it sets and reads no cookies, so a page never needs the browser to attach
  ambient credentials, and allowing that would only widen what a configured origin could do.
- Preflights allow the methods the API serves and the request headers it reads, and are
  cached by the browser for ALLOW_MAX_AGE seconds.
- The response headers the API sets are exposed to the page's script (EXPOSE_HEADERS).
- A refused preflight is a 403 problem (`cors_preflight_refused`) naming what was refused
  (the origin, the method or a header) instead of Starlette's plain-text 400.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from app.core.errors import problem_response

ALLOW_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
ALLOW_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID",
                 "If-Match", "If-None-Match", "Last-Event-ID")
EXPOSE_HEADERS = ("X-Request-ID", "X-Drift-Next-Cursor", "X-Drift-Has-More", "Link",
                  "Retry-After", "RateLimit", "RateLimit-Policy", "Location", "ETag")
ALLOW_MAX_AGE = 600


class ProblemCORSMiddleware(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        origin = request_headers.get("origin", "")
        detail = (f"Cross-origin request refused ({refused}). Allowed origins are set by "
                  "DRIFT_CORS_ORIGINS; allowed methods: " + ", ".join(ALLOW_METHODS)
                  + "; allowed request headers: " + ", ".join(ALLOW_HEADERS) + ".")
        if "origin" in refused:
            detail = f"The origin {origin[:200]!r} may not call this API. " + detail
        return problem_response(403, "cors_preflight_refused", "Forbidden", detail,
                                headers={"Vary": response.headers["vary"]})


def install_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Call after every other add_middleware: the last one added is the outermost."""
    if not origins:
        return
    app.add_middleware(ProblemCORSMiddleware, allow_origins=list(origins),
                       allow_methods=ALLOW_METHODS, allow_headers=ALLOW_HEADERS,
                       allow_credentials=False, expose_headers=EXPOSE_HEADERS,
                       max_age=ALLOW_MAX_AGE)
