"""Prometheus metrics (prometheus-client): every metric the service exports is defined here.

Labels are a bounded set only: route templates (never a path with ids), methods, status
classes, outcomes and kinds from fixed vocabularies. No tenant id, user, address or path ever
becomes a label. docs/operations.md lists every metric.

Processes: `drift-cloud serve --workers N` (N > 1) runs prometheus-client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by the CLI; each process writes its values to files there and
a scrape of any process adds them up with MultiProcessCollector). A standalone
`drift-cloud worker --metrics-port P` serves its own. Queue depths are read from the database
at scrape time (drift_api.queue_stats, aggregates over all tenants).

Exposure (`GET /metrics`, `scrape`): with DRIFT_METRICS_TOKEN set, a bearer token compared in
constant time; without it the main port answers 404 (metrics are never public by accident),
and only a dedicated listener (the worker's --metrics-port, bound to loopback unless told
otherwise) serves them without a token.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hmac
import logging
import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger("drift.metrics")

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# ---- HTTP (RequestContextMiddleware) ----

HTTP_DURATION = Histogram(
    "drift_http_request_duration_seconds",
    "HTTP requests by route template, method and status class; _count is the request count.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_RESPONSE_BYTES = Counter(
    "drift_http_response_bytes_total", "Response body bytes sent, by route template.",
    ["route", "method"])
UNMATCHED_ROUTE = "<unmatched>"  # 404s for paths no route matches: one label, not the path

# ---- database pool ----

DB_POOL_SIZE = Gauge("drift_db_pool_connections", "Open connections in the process's pool.",
                     multiprocess_mode="livesum")
DB_POOL_IN_USE = Gauge("drift_db_pool_in_use", "Pool connections currently acquired.",
                       multiprocess_mode="livesum")
DB_POOL_MAX = Gauge("drift_db_pool_max", "The pool's maximum size (DRIFT_DB_POOL_MAX).",
                    multiprocess_mode="livesum")
DB_ACQUIRE = Histogram(
    "drift_db_pool_acquire_seconds", "Time a request waited for a pooled connection.",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0))

# ---- read replica (app/core/replica.py) ----

DB_READS = Counter(
    "drift_db_reads_total", "Replica-eligible reads (audit query, export, verification) by the "
    "database that served them and, for the primary, why (not_configured, replica_unavailable, "
    "replica_lagging, replica_behind_cursor, replica_stale_credential, replica_conflict).",
    ["database", "reason"])
REPLICA_LAG = Gauge("drift_db_replica_lag_seconds",
                    "The read replica's replay lag last measured (0: everything received is "
                    "replayed).", multiprocess_mode="livemax")
REPLICA_UP = Gauge("drift_db_replica_up", "1 when the read replica answered its last probe.",
                   multiprocess_mode="livemin")

# ---- webhooks ----

WEBHOOK_ATTEMPTS = Counter(
    "drift_webhook_attempts_total",
    "Webhook delivery attempts recorded, by outcome (delivered, retry, failed, interrupted).",
    ["outcome"])
WEBHOOK_DEAD_LETTERED = Counter(
    "drift_webhook_deliveries_dead_lettered_total",
    "Deliveries that will not be tried again (final_attempt: the last attempt failed or was "
    "not retryable; endpoint_disabled: failed because their endpoint was disabled).",
    ["reason"])
WEBHOOK_ENDPOINTS_DISABLED = Counter(
    "drift_webhook_endpoints_disabled_total",
    "Endpoints disabled by the worker, by reason (gone: 410; circuit_breaker).", ["reason"])

# ---- email ----

EMAIL_ATTEMPTS = Counter(
    "drift_email_attempts_total",
    "Email sending attempts by outcome (sent, logged, retry, failed).", ["outcome"])

# ---- audit stream, SCIM, rate limits, worker ----

AUDIT_STREAM_SUBSCRIBERS = Gauge(
    "drift_audit_stream_subscribers", "Open live audit streams (SSE).",
    multiprocess_mode="livesum")
SCIM_OPERATIONS = Counter(
    "drift_scim_operations_total",
    "SCIM requests by operation (e.g. create_users, patch_groups, bulk) and outcome "
    "(success, client_error, server_error).", ["operation", "outcome"])
SCIM_BREAKER_TRIPS = Counter(
    "drift_scim_breaker_trips_total",
    "Times a SCIM token's deprovisions passed its tenant's share and the breaker started "
    "holding them (one email to the owner each).")
SCIM_HELD_CHANGES = Counter(
    "drift_scim_held_changes_total",
    "SCIM deprovisions held by the breaker (op: deactivate, delete) and how held ones ended "
    "(event: held, approved, rejected, cancelled, void).", ["op", "event"])
RATE_LIMITED = Counter(
    "drift_rate_limited_total", "Requests refused by a rate limit, by limit kind.", ["kind"])
LOOP_LAG = Gauge(
    "drift_event_loop_lag_seconds",
    "How late the process's event loop ran a timer, sampled every second (API and worker).",
    multiprocess_mode="livemax")

OUTCOME_BY_CLASS = ("success", "success", "success", "success", "client_error",
                    "server_error")
STATUS_CLASSES = ("1xx", "1xx", "2xx", "3xx", "4xx", "5xx")
_SCIM_VERBS = {"GET": "get", "POST": "create", "PUT": "replace", "PATCH": "patch",
               "DELETE": "delete"}


def scim_operation(method: str, template: str) -> str | None:
    """The SCIM operation a route template names (bounded: resource types x verbs), or None
    when the route is not a SCIM one."""
    if not template.startswith("/scim/v2/"):
        return None
    parts = template[len("/scim/v2/"):].split("/")
    resource = parts[0].lower()
    if resource == "bulk":
        return "bulk"
    if resource in ("serviceproviderconfig", "resourcetypes", "schemas"):
        return "discovery"
    verb = _SCIM_VERBS.get(method, method.lower())
    if verb == "get" and len(parts) == 1:
        verb = "list"
    elif verb == "create" and len(parts) > 1 and parts[1] == ".search":
        verb = "search"
    return f"{verb}_{resource}"


class _Tally:
    """A histogram child's observations kept in the process until the next `flush`: a count
    per bucket and the sum. In multiprocess mode every `observe` is a locked write to a
    memory-mapped file per value (~4.4 us per observation against ~0.3 us here)."""

    __slots__ = ("bounds", "child", "counts", "total")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.bounds: list[float] = list(child._upper_bounds)
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1  # first bound >= value
        self.total += seconds

    def flush(self) -> None:
        if not any(self.counts):
            return
        counts, self.counts = self.counts, [0] * len(self.bounds)
        total, self.total = self.total, 0.0
        # what Histogram.observe does per observation, once per bucket
        self.child._sum.inc(total)
        for i, n in enumerate(counts):
            if n:
                self.child._buckets[i].inc(n)


class HttpLabels:
    """The label children of one (route template, method, status class), resolved once and
    kept; a request only adds to their tallies (`flush` hands them over)."""

    __slots__ = ("bytes", "duration", "requests", "scim", "sent")

    def __init__(self, route: str, method: str, status_class: int) -> None:
        self.duration = _Tally(HTTP_DURATION.labels(route, method, STATUS_CLASSES[status_class]))
        self.bytes = HTTP_RESPONSE_BYTES.labels(route, method)
        op = scim_operation(method, route)
        self.scim = (SCIM_OPERATIONS.labels(op, OUTCOME_BY_CLASS[status_class])
                     if op is not None else None)
        self.sent = 0
        self.requests = 0

    def flush(self) -> None:
        self.duration.flush()
        sent, self.sent = self.sent, 0
        if sent:
            self.bytes.inc(sent)
        requests, self.requests = self.requests, 0
        if requests and self.scim is not None:
            self.scim.inc(requests)


_http_labels: dict[tuple[str, str, int], HttpLabels] = {}
_acquire = _Tally(DB_ACQUIRE)


def observe_request(route: str, method: str, status: int, seconds: float, sent: int) -> None:
    cls = status // 100 if 100 <= status < 600 else 5
    key = (route, method, cls)
    labels = _http_labels.get(key)
    if labels is None:
        labels = _http_labels[key] = HttpLabels(route, method, cls)
    labels.duration.observe(seconds)
    labels.sent += sent
    labels.requests += 1


def observe_acquire(seconds: float) -> None:
    """How long a request waited for its pooled connection (drift_db_pool_acquire_seconds)."""
    _acquire.observe(seconds)


def flush() -> None:
    """Hand the per-request tallies to the metrics: by the sampler every second, before this
    process renders /metrics, and when it stops. Another process's requests therefore reach
    a multiprocess scrape within a second."""
    for labels in list(_http_labels.values()):
        labels.flush()
    _acquire.flush()


# ---- the sampler: loop lag and pool gauges, once a second in every process ----

class Sampler:
    """Samples the event loop's lag and the pool's gauges every `interval` seconds."""

    def __init__(self, pool_of: Any, interval: float = 1.0) -> None:
        self.pool_of = pool_of  # a Database (its pool may be closed or absent)
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="metrics-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        flush()

    def sample_pool(self) -> None:
        pool = getattr(self.pool_of, "_pool", None)
        if pool is None:
            return
        size = pool.get_size()
        DB_POOL_SIZE.set(size)
        DB_POOL_IN_USE.set(size - pool.get_idle_size())
        DB_POOL_MAX.set(pool.get_max_size())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            LOOP_LAG.set(max(0.0, loop.time() - expected))
            try:
                flush()
                self.sample_pool()
            except Exception:  # never let a sampling bug end the task
                log.exception("metrics sampling failed")


# ---- scraping ----

async def queue_families(db: Any) -> list[Metric]:
    """Queue depth, due count and oldest due age of the webhook and email queues, summed over
    all tenants by a definer function (aggregates only)."""
    from app.core import clock

    now = clock.now()
    rows = await db.fetch("SELECT * FROM drift_api.queue_stats($1)", now)
    depth = GaugeMetricFamily("drift_queue_depth",
                              "Pending items (due now or later), by queue (webhooks, email).",
                              labels=["queue"])
    due = GaugeMetricFamily("drift_queue_due", "Pending items due now, by queue.",
                            labels=["queue"])
    age = GaugeMetricFamily("drift_queue_oldest_due_age_seconds",
                            "How long the oldest due item has been waiting (0: none due).",
                            labels=["queue"])
    for r in rows:
        depth.add_metric([r["queue"]], r["depth"])
        due.add_metric([r["queue"]], r["due"])
        oldest = r["oldest_due"]
        age.add_metric([r["queue"]],
                       max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
    return [depth, due, age]


class _Families:
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def render(extra: Iterable[Metric] = ()) -> bytes:
    """The exposition text: this process's metrics (all processes' in multiprocess mode)
    plus `extra` families."""
    flush()
    if MULTIPROCESS:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    out = generate_latest(registry)
    families = list(extra)
    if families:
        extra_registry = CollectorRegistry(auto_describe=False)
        extra_registry.register(_Families(families))
        out += generate_latest(extra_registry)
    return out


def authorized(header: str | None, token: str) -> bool:
    """A bearer header matching `token`, compared in constant time."""
    if not header:
        return False
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


CONTENT_TYPE = CONTENT_TYPE_LATEST


def scrape_app(token: str) -> Any:
    """A minimal ASGI app serving this process's metrics at /metrics: the dedicated listener
    of `drift-cloud worker --metrics-port`. Bearer `token` when one is set."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        if scope["path"] != "/metrics":
            status, body, ctype = 404, b"not found\n", b"text/plain"
        elif token and not authorized(headers.get(b"authorization", b"").decode("latin-1"),
                                      token):
            status, body, ctype = 401, b"bearer token required\n", b"text/plain"
        else:
            status, body, ctype = 200, render(), CONTENT_TYPE.encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return asgi


async def serve_scrapes(host: str, port: int, token: str) -> None:
    """Run the dedicated metrics listener until cancelled."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(scrape_app(token), host=host, port=port,
                                           log_config=None, access_log=False,
                                           lifespan="off"))
    await server.serve()
