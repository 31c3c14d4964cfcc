"""Plumbing for audit reads that outlive the request transaction.

The request's own connection is committed and released when the response starts
(RequestContextMiddleware), so a streamed body (NDJSON export, SSE) cannot read through it.
`open_snapshot` opens a transaction of its own (app.core.tx.OwnTx), REPEATABLE READ with the
tenant set: one snapshot for the whole read, so positions computed before the headers go out
(the export's X-Drift-Next-Cursor) describe exactly the rows the body then contains.
ManagedStream releases it when the body ends, fails, or the client goes away, even if the body
never started.

`Runtime.stream_rechecks`: the request-time checks a long-lived response must re-run while it
lives (the credential is re-verified by every read's enter_* call; create_app puts the IP
allowlist in `Runtime.stream_rechecks`, so the audit package does not depend on it). The live
stream runs them after every read; the export does not need them (docs/audit.md, "Live stream").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.core import replica as replica_reads
from app.core.errors import ProblemError
from app.core.runtime import Runtime
from app.core.tx import OwnTx, Tx

log = logging.getLogger("drift.audit")

# A stalled client keeps the export's transaction idle; allow it this long (the runtime role's
# default idle_in_transaction_session_timeout is 60 s).
EXPORT_IDLE_TIMEOUT = "300s"


class TooManyReads(ProblemError):
    status, code, title = 429, "too_many_audit_reads", "Too many requests"


class HeavyReadLimiter:
    """Per process: how many exports/verifications may hold a pooled connection at once, so
    they can never starve ordinary requests of the pool."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def acquire(self) -> None:
        if self.active >= self.limit:
            raise TooManyReads(
                f"{self.active} audit exports or verifications are running in this process; "
                "retry in a few seconds.", headers={"Retry-After": "5"})
        self.active += 1

    def release(self) -> None:
        self.active = max(0, self.active - 1)


def heavy_reads(rt: Runtime) -> HeavyReadLimiter:
    limiter = rt.extras.get("audit_heavy_reads")
    if limiter is None:
        limiter = HeavyReadLimiter(max(2, rt.db.max_size // 4))
        rt.extras["audit_heavy_reads"] = limiter
    if not isinstance(limiter, HeavyReadLimiter):
        raise RuntimeError("expected isinstance(limiter, HeavyReadLimiter)")
    return limiter


async def open_snapshot(rt: Runtime, tx: Tx, *,
                        accept: Callable[[OwnTx], Awaitable[bool]] | None = None) -> OwnTx:
    """A REPEATABLE READ, read-only tenant transaction on a pooled connection of its own: on
    the read replica when one is set, usable and `accept`s its snapshot (app.core.replica),
    else on the primary."""
    return await replica_reads.open_snapshot(rt.replica, rt.db, tx,
                                             idle_timeout=EXPORT_IDLE_TIMEOUT, accept=accept)


class ManagedStream(StreamingResponse):
    """A StreamingResponse that always runs `cleanup` once the response is over (sent, failed
    or abandoned by the client), and closes its body iterator."""

    def __init__(self, content: AsyncIterator[bytes], *,
                 cleanup: Callable[[], Awaitable[None]], media_type: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._cleanup = cleanup
        self._content = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await asyncio.shield(self._finish())

    async def _finish(self) -> None:
        aclose: Any = getattr(self._content, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
        try:
            await self._cleanup()
        except Exception:
            log.exception("audit stream cleanup failed")
