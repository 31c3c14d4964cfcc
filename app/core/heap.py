"""The cyclic garbage collector, set for a long-running server (docs/operations.md,
"Garbage collection").

Python frees most objects by reference counting; the cyclic collector exists for reference
cycles, and a *full* collection walks every tracked object in the process. Measured under the
`scim_filter` load (one API process, 32 connections), a full collection of the service's heap
(FastAPI, pydantic models, SQL and schema caches: everything imported) paused the process for
~145 ms and ran every ~1.5 s. The trigger is not garbage: objects of in-flight requests that
outlive two young collections count toward the next full one even after reference counting
freed them. So:

- `settle()` runs once the application has started: a full collection, then `gc.freeze()`,
  which moves every object alive at that point (the imports, the app, its routes) to a
  permanent generation that collections no longer walk;
- and it raises the young generation's threshold from 700 to `DRIFT_GC_THRESHOLD` (10,000)
  net new objects: a request's objects are freed by reference counting as it ends, so with 32
  requests in flight the default triggered several young collections per request, each walking
  every in-flight request's objects.

Cycles are still collected (`tests/core/test_heap.py`); requests leave none behind
(`tests/core/test_request_garbage.py`).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("drift.heap")


def settle(threshold: int) -> None:
    """Freeze what startup allocated and set the young generation's threshold (0: leave the
    collector as the interpreter set it)."""
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(threshold, gen1, gen2)
    log.debug("heap settled: %d objects frozen, young threshold %d", gc.get_freeze_count(),
              threshold)
