"""Graceful shutdown (docs/operations.md, "Lifecycle").

`drift-cloud serve` runs uvicorn, which on SIGTERM or SIGINT stops accepting connections,
lets in-flight requests finish (at most `DRIFT_SHUTDOWN_GRACE` seconds) and then runs the
application's lifespan shutdown. Two things must happen earlier, at the signal itself, or the
grace period would be spent waiting for them: /readyz must answer 503 (the load balancer stops
sending new work), and long-lived responses (the audit SSE stream) must end, with a final
event, so their connections are no longer in flight. `Lifecycle.drain()` does both; the
application chains it in front of uvicorn's own handlers while it runs (`signal_hooks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

log = logging.getLogger("drift.lifecycle")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Lifecycle:
    def __init__(self) -> None:
        self.draining = False
        self._hooks: list[Callable[[], None]] = []

    def on_drain(self, hook: Callable[[], None]) -> None:
        self._hooks.append(hook)

    def drain(self) -> None:
        """Start draining (idempotent): readiness fails, drain hooks run once."""
        if self.draining:
            return
        self.draining = True
        log.info("draining: readiness now fails; ending live streams")
        for hook in self._hooks:
            try:
                hook()
            except Exception:
                log.exception("drain hook failed")


@contextlib.contextmanager
def signal_hooks(loop: asyncio.AbstractEventLoop, on_signal: Callable[[], None]
                 ) -> Iterator[None]:
    """Run `on_signal` (in the event loop) when SIGTERM or SIGINT arrives, then the handler
    that was installed before (uvicorn's, which starts its graceful shutdown). Restores the
    previous handlers on exit. Outside the main thread (signals cannot be caught there) this
    does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, Any] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(on_signal)
        prev = previous.get(signal.Signals(signum))
        if callable(prev):
            prev(signum, frame)
        elif prev == signal.SIG_DFL and signum == signal.SIGINT:
            raise KeyboardInterrupt

    for sig in SIGNALS:
        previous[sig] = signal.getsignal(sig)
        if previous[sig] == signal.SIG_IGN:
            continue
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, prev in previous.items():
            if prev is not None and signal.getsignal(sig) is handler:
                signal.signal(sig, prev)
