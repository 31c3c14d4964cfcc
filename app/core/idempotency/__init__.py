"""The Idempotency-Key request header (IETF httpapi draft "The Idempotency-Key HTTP Header
Field") for the POST routes that create something: `@idempotent` on the route handler.

A POST sent with `Idempotency-Key: <key>` (1-255 visible ASCII characters; a quoted
structured-field string is accepted too) is fingerprinted: SHA-256 of the caller (credential
type and user or credential id), the method, the path with its query, and the body. Then, in
the request's own transaction:

- the key is locked for the transaction (`pg_try_advisory_xact_lock`): if another request
  with the key is still running, 409 `idempotency_key_in_flight` (Retry-After: 1);
- a stored, unexpired response for the key: the same fingerprint gets that response again
  (status, body, Location/ETag/Content-Type, plus `Idempotent-Replayed: true`) and nothing
  runs; another fingerprint (other body, route or caller) is 422 `idempotency_key_reused`;
- otherwise the handler runs, and a 2xx response is stored in the same transaction, so it
  commits exactly when the change does (the middleware commits before the response starts).
  A refused request (4xx/5xx) rolls back and stores nothing: a retry runs again.

Keys belong to the tenant (RLS) and expire 24 hours after the first response (the app clock;
each store removes up to 100 expired keys of the tenant). Response bodies are stored
encrypted (Fernet, a key derived from DRIFT_SECRET_KEY) because some carry a secret shown
once (an API key, a webhook signing secret): a retry of such a request gets the secret it
lost, and the database never holds it in clear.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, get_type_hints

from fastapi import Header, Request
from starlette.responses import Response

from app.core import clock
from app.core.crypto import decrypt, encrypt
from app.core.errors import BadRequest, Conflict, ProblemError
from app.core.idempotency import repository
from app.core.tx import Tx

log = logging.getLogger("drift.idempotency")

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
PURPOSE = "idempotency-response"
# Response headers a replay repeats (Content-Length is recomputed).
REPLAYED_HEADERS = ("content-type", "location", "etag")
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# What the OpenAPI document allows (a bare key or an sf-string), so generated requests are keys
KEY_PATTERN = r'^(?:[!-~]{1,255}|"[!-~]{1,255}")$'

Handler = Callable[..., Awaitable[Any]]


class IdempotencyKeyReused(ProblemError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency key reused"


def parse_key(value: str) -> str:
    key = value.strip()
    if len(key) > 2 and key.startswith('"') and key.endswith('"'):
        key = key[1:-1]  # an sf-string, as the draft writes it
    if not _KEY.match(key):
        raise BadRequest(f"{HEADER} must be 1 to 255 visible ASCII characters (a UUID is a "
                         "good choice).", code="invalid_idempotency_key")
    return key


def fingerprint(request: Request, tx: Tx, body: bytes) -> bytes:
    p = tx.principal
    caller = getattr(p, "user_id", None) or getattr(p, "credential_id", "")
    who = f"{getattr(p, 'credential_type', '')}:{caller}"
    head = f"{who}\n{request.method}\n{request.url.path}?{request.url.query}\n".encode()
    return hashlib.sha256(head + body).digest()


def _replay(row: Any, secret_key: str) -> Response:
    headers = {k: v for k, v in dict(row["headers"]).items() if k in REPLAYED_HEADERS}
    headers["Idempotent-Replayed"] = "true"
    return Response(decrypt(secret_key, PURPOSE, bytes(row["body"])),
                    status_code=row["status"], headers=headers)


async def run_idempotent(request: Request, tx: Tx, key: str, secret_key: str,
                         call: Callable[[], Awaitable[Any]]) -> Any:
    digest = fingerprint(request, tx, await request.body())
    if not await repository.try_lock(tx, key):
        raise Conflict(f"A request with this {HEADER} is still being processed; retry when it "
                       "has finished to get its response.", code="idempotency_key_in_flight",
                       headers={"Retry-After": "1"})
    now = clock.now()
    row = await repository.get(tx, key)
    if row is not None and row["expires_at"] <= now:
        await repository.delete(tx, key)
        row = None
    if row is not None:
        if not hmac.compare_digest(bytes(row["request_hash"]), digest):
            raise IdempotencyKeyReused(
                f"This {HEADER} was already used for a different request ({row['method']} "
                f"{row['path']} with another body or by another caller). Use a new key for "
                "a new request.")
        log.info("idempotent replay", extra={"idempotency_key": key, "path": row["path"],
                                             "status": row["status"]})
        return _replay(row, secret_key)
    response = await call()
    if isinstance(response, Response) and 200 <= response.status_code < 300:
        headers = {k: v for k, v in response.headers.items() if k in REPLAYED_HEADERS}
        await repository.insert(
            tx, key=key, request_hash=digest, method=request.method, path=request.url.path,
            status=response.status_code, headers=headers,
            body=encrypt(secret_key, PURPOSE, bytes(response.body)), now=now,
            expires_at=now + TTL)
        await repository.purge_expired(tx, now)
    return response


def idempotent(handler: Handler) -> Handler:
    """Make a POST route handler honour Idempotency-Key (module docstring). The handler must
    take the request's transaction (a Tx dependency) and return a Response. The header is
    added to the route's parameters, so the OpenAPI document declares it."""
    hints = get_type_hints(handler, include_extras=True)
    sig = inspect.signature(handler)
    params = [p.replace(annotation=hints.get(p.name, p.annotation))
              for p in sig.parameters.values()]
    params += [
        inspect.Parameter("idempotency_request__", inspect.Parameter.KEYWORD_ONLY,
                          annotation=Request),
        inspect.Parameter(
            "idempotency_key__", inspect.Parameter.KEYWORD_ONLY, default=None,
            annotation=Annotated[str | None, Header(
                alias=HEADER, description="Makes a retry safe: the same key with the same "
                "request within 24 hours gets the first response again (README, "
                "\"Idempotent requests\").",
                json_schema_extra={"pattern": KEY_PATTERN})]),
    ]

    @functools.wraps(handler)
    async def wrapper(*args: Any, idempotency_request__: Request,
                      idempotency_key__: str | None = None, **kwargs: Any) -> Any:
        if idempotency_key__ is None:
            return await handler(*args, **kwargs)
        key = parse_key(idempotency_key__)
        tx = next((v for v in (*args, *kwargs.values()) if isinstance(v, Tx)), None)
        if tx is None:  # a programming error: the route has no transaction to store in
            raise RuntimeError(f"{handler.__name__} takes no Tx; @idempotent needs one")
        secret_key: str = idempotency_request__.app.state.runtime.secret_key
        return await run_idempotent(idempotency_request__, tx, key, secret_key,
                                    lambda: handler(*args, **kwargs))

    # what FastAPI reads (inspect.signature stops at __signature__): the handler's parameters,
    # their annotations resolved in the handler's module, plus the two above
    setattr(wrapper, "__signature__", sig.replace(  # noqa: B010
        parameters=params, return_annotation=hints.get("return", sig.return_annotation)))
    return wrapper
