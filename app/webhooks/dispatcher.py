"""The webhook dispatcher: the worker job that delivers due deliveries, with retries.

One run (`run_once`) keeps a pipeline going until nothing is due and nothing is in flight:
- claim: tenants with due work come from a definer function (ids only); in each tenant's own
  transaction due rows are taken with FOR UPDATE SKIP LOCKED and a lease (locked_until),
  never more than the free slots (DRIFT_WEBHOOK_CONCURRENCY in total per worker process,
  DRIFT_WEBHOOK_ENDPOINT_CONCURRENCY per endpoint, so one hanging receiver cannot hold up
  the others);
- send: one task per delivery over a shared keep-alive HTTP client that resolves, vets and
  connects to the vetted address whenever it opens a connection (app.webhooks.transport,
  app.webhooks.ssrf); 10 s limit per attempt, no redirects, at most 1 KB of the response kept;
- record: finished attempts are written in batches (one transaction per tenant per batch):
  the delivery's new state, the attempt log, and the circuit breaker. A result applies only to
  the claim that produced it (same attempt number, still pending).

A worker killed mid-send leaves its claimed rows leased; when the lease ends another worker
takes them again (at-least-once, same webhook id). Multiple workers never send the same attempt:
an attempt number is given out once, by the claim that holds the row lock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import cache, lru_cache
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import orjson

from app.config import Settings
from app.core import clock, metrics, tracing
from app.core.audit_record import record
from app.core.context import Actor, RequestContext
from app.core.crypto import decrypt
from app.core.errors import DB_UNAVAILABLE
from app.core.outbox import envelope
from app.core.responses import dumps
from app.core.runtime import Runtime
from app.core.tx import Tx, own_tx
from app.webhooks import alerts, repository, ssrf, transport
from app.webhooks.signing import secret_key, signature_headers

log = logging.getLogger("drift.webhooks")

SECRET_PURPOSE = "webhook-secret"  # noqa: S105 - an HKDF label, not a secret
HEADERS_PURPOSE = "webhook-headers"  # custom request headers (their values may be credentials)
USER_AGENT = "Drift-Webhooks/1.0 (+https://docs.drift.dev/webhooks)"
BODY_LIMIT = 1024
SENDER_KEY = "webhook_sender"  # Runtime.extras
BUSY_POLL = 0.05  # while sends are in flight: look for newly due work this often
# While a run is busy, which tenants have due work is asked again (a definer function that
# visits every tenant) at most this often; in between, claims go to the tenants whose last
# claim found work. Bounds how long a busy tenant can delay another tenant's new work.
TENANT_REFRESH = 0.25
DB_RETRY = 1.0  # while the database is unavailable: try again this often


@dataclass
class Attempt:
    """What one HTTP attempt came to."""

    status_code: int | None = None
    response_body: str | None = None
    latency_ms: int = 0
    error: str | None = None
    retry_after: float | None = None
    blocked: bool = False  # refused by the SSRF policy at send time

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# ---- building a request ----

@lru_cache(maxsize=4096)
def _hmac_key(app_secret: str, secret_encrypted: bytes) -> bytes:
    return secret_key(decrypt(app_secret, SECRET_PURPOSE, secret_encrypted).decode())


def hmac_keys(app_secret: str, encrypted: Sequence[bytes] | None) -> list[bytes]:
    return [_hmac_key(app_secret, bytes(e)) for e in encrypted or []]


@lru_cache(maxsize=4096)
def custom_headers(app_secret: str, encrypted: bytes | None) -> tuple[tuple[bytes, bytes], ...]:
    """An endpoint's custom headers (webhook_endpoints.headers_encrypted: JSON pairs)."""
    if encrypted is None:
        return ()
    pairs = orjson.loads(decrypt(app_secret, HEADERS_PURPOSE, encrypted))
    return tuple((str(n).encode(), str(v).encode()) for n, v in pairs)


def event_envelope(*, event_id: UUID, type_: str, created_at: datetime, tenant_id: UUID,
                   data: dict[str, Any]) -> dict[str, Any]:
    """The delivered envelope (also what GET /webhooks/{id}/events shows as `payload`)."""
    stamp = created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return envelope(event_id=event_id, type_=type_, created_at=stamp, tenant_id=tenant_id,
                    data=data)


def event_body(*, event_id: UUID, type_: str, created_at: datetime, tenant_id: UUID,
               data: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent."""
    return dumps(event_envelope(event_id=event_id, type_=type_, created_at=created_at,
                                tenant_id=tenant_id, data=data))


def request_headers(keys: Sequence[bytes], *, event_id: UUID, event_type: str, attempt: int,
                    body: bytes, seq: int | None = None) -> list[tuple[bytes, bytes]]:
    """The signed request's headers. `seq`: the endpoint's sequence number of the delivery
    (`webhook-sequence`; not signed, see docs/webhooks.md; a test ping has none). Custom
    headers are appended after these and can never name them (schemas.RESERVED_HEADERS)."""
    timestamp = int(clock.now().timestamp())
    signed = signature_headers(keys, str(event_id), timestamp, body)
    headers = [(b"Content-Type", b"application/json"), (b"User-Agent", USER_AGENT.encode()),
               (b"X-Drift-Event-Type", event_type.encode()),
               (b"X-Drift-Attempt", str(attempt).encode())]
    if seq is not None:
        headers.append((b"webhook-sequence", str(seq).encode()))
    headers += [(k.encode(), v.encode()) for k, v in signed.items()]
    return headers


# ---- sending ----

def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - clock.now()).total_seconds())


@cache
def tls_context() -> ssl.SSLContext:
    """Certificate verification against the CA bundle httpx uses (certifi; SSL_CERT_FILE and
    SSL_CERT_DIR are honoured). Built once: loading the bundle costs ~60 ms."""
    return httpx.create_ssl_context()


class Sender:
    """Sends webhook requests over a shared keep-alive client whose connections are opened
    only to vetted addresses (app.webhooks.transport, app.webhooks.ssrf). Use as an async
    context manager."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.get_running_loop()  # its connections belong to this loop
        self.ssl_context = tls_context()
        self.timeout = settings.webhook_timeout
        self._client = transport.Client(settings.webhook_allowed_cidrs,
                                        ssl_context=self.ssl_context,
                                        max_idle_per_origin=settings.webhook_endpoint_concurrency)

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, url: str, headers: list[tuple[bytes, bytes]], body: bytes) -> Attempt:
        """POST `body`; never raises (except on cancellation)."""
        t = self.timeout
        started = time.perf_counter()
        out = Attempt()
        try:
            async with asyncio.timeout(t):
                resp = await self._client.post(url, headers, body, keep=BODY_LIMIT)
            out.status_code = resp.status
            for name, value in resp.headers:
                if name.lower() == b"retry-after":
                    out.retry_after = parse_retry_after(value.decode("latin-1"))
            out.response_body = resp.body.decode("utf-8", errors="replace").replace(
                "\x00", "\ufffd")
        except ssrf.BlockedAddress as exc:
            out.error, out.blocked = f"blocked: {exc}", True
        except ssrf.ResolutionFailed as exc:
            out.error = f"dns: {exc}"
        except TimeoutError:
            out.error = f"timeout: no complete response within {t:g}s"
        except (transport.ConnectionFailed, OSError) as exc:
            out.error = f"connection: {exc}"[:500]
        except Exception as exc:  # a bug or an exotic failure: logged, retried like an error
            log.exception("webhook send to %s failed unexpectedly", url)
            out.error = f"error: {type(exc).__name__}"
        out.latency_ms = round((time.perf_counter() - started) * 1000)
        return out


# ---- the retry policy ----

RETRY_AFTER_STATUSES = (429, 503)


def next_delay(schedule: Sequence[float], retries_done: int, retry_after: float | None,
               retry_after_max: float = 3600.0) -> float | None:
    """Seconds until the next attempt after `retries_done` retries, or None (dead letter).
    A Retry-After is honoured between the scheduled step and `retry_after_max` (never below
    the step: a receiver cannot make us retry faster than the schedule)."""
    if retries_done >= len(schedule):
        return None
    step = schedule[retries_done]
    if retry_after is None:
        return step
    return min(max(retry_after, step), max(step, retry_after_max))


def retryable(attempt: Attempt) -> bool:
    """A failure worth another attempt: no answer, 429 or 5xx (not one refused by policy)."""
    code = attempt.status_code
    return not attempt.ok and not attempt.blocked and (code is None or code == 429
                                                       or code >= 500)


def outcome(attempt: Attempt, tries_in_run: int, schedule: Sequence[float],
            retry_after_max: float = 3600.0) -> tuple[str, float | None]:
    """(status, seconds until the next attempt) for an attempt result. Retry-After counts on
    429 and 503 only."""
    if attempt.ok:
        return "delivered", None
    if not retryable(attempt):
        return "failed", None  # 3xx (not followed), 4xx other than 429, refused by policy
    retry_after = attempt.retry_after if attempt.status_code in RETRY_AFTER_STATUSES else None
    delay = next_delay(schedule, tries_in_run - 1, retry_after, retry_after_max)
    return ("pending", delay) if delay is not None else ("failed", None)


# ---- one dispatcher run ----

class _Run:
    def __init__(self, rt: Runtime, sender: Sender, only: Collection[UUID] | None) -> None:
        s = rt.settings
        self.rt = rt
        self.only = only
        self.sender = sender
        self.capacity = s.webhook_concurrency
        self.per_endpoint = s.webhook_endpoint_concurrency
        fast = list(s.webhook_retry_schedule)
        # per endpoint (webhook_endpoints.retry_policy): the fast schedule, then maybe more
        self.schedules = {"fast": fast, "extended": fast + list(s.webhook_extended_retry_schedule)}
        self.retry_after_max = s.webhook_retry_after_max
        self.threshold = s.webhook_disable_after_failures
        self.lease = timedelta(seconds=max(s.webhook_lease_min_seconds, 6 * s.webhook_timeout))
        self.ctx = RequestContext(actor=Actor.system())
        # task -> (tenant, endpoint, delivery, attempt number)
        self.in_flight: dict[asyncio.Task[dict[str, Any]], tuple[UUID, UUID, UUID, int]] = {}
        self.busy: Counter[tuple[UUID, UUID]] = Counter()
        self.done: list[dict[str, Any]] = []
        # tenants with due work: from the definer function, refreshed every TENANT_REFRESH;
        # a tenant whose claim comes back empty drops out until the next refresh
        self.due: list[UUID] = []
        self.due_at = -TENANT_REFRESH

    async def run(self) -> int:
        total = 0
        loop = asyncio.get_running_loop()
        db_down: BaseException | None = None  # the database stopped answering
        retry_at = 0.0
        try:
            while True:
                if db_down is None or loop.time() >= retry_at:
                    try:
                        total += await self._flush_and_claim()
                    except DB_UNAVAILABLE as exc:
                        # Sends in flight go on and their results are kept (flush puts them
                        # back) until the database answers again: applying a result late is
                        # safe (it only touches the claim that made it), so nothing is sent
                        # twice and no delivery waits for its lease to run out.
                        if db_down is None:
                            log.warning("webhooks: database unavailable (%s); %d sends in "
                                        "flight, %d results kept until it is back",
                                        type(exc).__name__, len(self.in_flight),
                                        len(self.done))
                        db_down, retry_at = exc, loop.time() + DB_RETRY
                    else:
                        if db_down is not None:
                            log.warning("webhooks: database back")
                        db_down = None
                if not self.in_flight:
                    if db_down is None:
                        break
                    if not self.done:  # nothing kept: the worker's own retry takes over
                        raise db_down
                    await asyncio.sleep(max(0.0, retry_at - loop.time()))
                    continue
                finished, _ = await asyncio.wait(self.in_flight, timeout=BUSY_POLL,
                                                 return_when=asyncio.FIRST_COMPLETED)
                self._collect(finished)
        finally:
            await self._shutdown()
        return total

    async def _flush_and_claim(self) -> int:
        """Record finished attempts and claim more. Usually concurrently (two connections):
        the claim does not wait for the results' transaction, so freed slots fill sooner, and
        a result only touches rows this run still leases, which no claim takes. A batch with
        a final failure goes first: it may disable its endpoint (410, circuit breaker), and
        nothing more may be sent to that endpoint."""
        want = len(self.in_flight) < self.capacity
        if not self.done:
            return await self.claim() if want else 0
        if not want or any(r["status"] == "failed" for r in self.done):
            await self.flush()
            return await self.claim() if want else 0
        flushed, claimed = await asyncio.gather(self.flush(), self.claim(),
                                                return_exceptions=True)
        for outcome_ in (flushed, claimed):
            if isinstance(outcome_, BaseException):
                raise outcome_
        if not isinstance(claimed, int):
            raise RuntimeError("expected isinstance(claimed, int)")
        return claimed

    def _collect(self, finished: set[asyncio.Task[dict[str, Any]]]) -> None:
        for task in finished:
            tenant_id, endpoint_id, delivery_id, attempt = self.in_flight.pop(task)
            key = (tenant_id, endpoint_id)
            self.busy[key] -= 1
            if self.busy[key] <= 0:
                del self.busy[key]
            if task.cancelled():  # the worker is stopping: back to the queue at once
                now = clock.now()
                self.done.append({
                    "tenant_id": tenant_id, "endpoint_id": endpoint_id, "id": delivery_id,
                    "attempt": attempt, "status": "pending", "status_code": None,
                    "response_body": None, "latency_ms": None, "attempted_at": now,
                    "error": "interrupted: the worker stopped during the attempt",
                    "next_attempt_at": now, "gone": False, "interrupted": True})
                continue
            if task.exception() is not None:  # a bug: the lease brings the delivery back
                log.error("webhook delivery task failed", exc_info=task.exception())
                continue
            self.done.append(task.result())

    async def _shutdown(self) -> None:
        """Cancelled (worker stopping) or failed: stop the sends in flight and record what is
        known; interrupted deliveries go back to the queue without using up a retry (if even
        this fails, their leases run out and they come back anyway)."""
        tasks = list(self.in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
            self._collect(set(tasks))
        if self.done:
            try:
                await self.flush()
            except Exception:  # their leases run out and they are sent again
                log.exception("could not record %d webhook results", len(self.done))

    async def _due_tenants(self, now: datetime) -> list[UUID]:
        loop_now = asyncio.get_running_loop().time()
        if not self.due or loop_now - self.due_at >= TENANT_REFRESH:
            tenants = await repository.tenants_with_due_webhooks(self.rt.db, now)
            if self.only is not None:
                tenants = [t for t in tenants if t in self.only]
            self.due, self.due_at = tenants, loop_now
        tenants = list(self.due)
        random.shuffle(tenants)
        return tenants

    async def claim(self) -> int:
        now = clock.now()
        claimed = 0
        for tenant_id in await self._due_tenants(now):
            free = self.capacity - len(self.in_flight)
            if free <= 0:
                break
            busy = {ep: max(0, self.per_endpoint - n)
                    for (tid, ep), n in self.busy.items() if tid == tenant_id}
            async with own_tx(self.rt.db, tenant_id, self.ctx) as tx:
                rows = await repository.claim_due(
                    tx, now=now, lease_until=now + self.lease, busy=busy,
                    per_endpoint=self.per_endpoint, limit=free)
            if not rows and all(busy.values()) and tenant_id in self.due:
                self.due.remove(tenant_id)  # drained (not just out of slots) for now
            for row in rows:
                task = asyncio.create_task(self._deliver(tenant_id, row))
                self.in_flight[task] = (tenant_id, row["endpoint_id"], row["id"],
                                        int(row["attempt"]))
                self.busy[(tenant_id, row["endpoint_id"])] += 1
            claimed += len(rows)
        return claimed

    async def _deliver(self, tenant_id: UUID, row: asyncpg.Record) -> dict[str, Any]:
        attempt_no = int(row["attempt"])
        try:
            keys = hmac_keys(self.rt.secret_key, row["secrets"])
            body = event_body(event_id=row["event_id"], type_=row["event_type"],
                              created_at=row["event_created_at"], tenant_id=tenant_id,
                              data=row["data"])
            headers = request_headers(keys, event_id=row["event_id"],
                                      event_type=row["event_type"], attempt=attempt_no,
                                      body=body, seq=row["seq"])
            encrypted = row["headers_encrypted"]
            headers += custom_headers(self.rt.secret_key,
                                      bytes(encrypted) if encrypted is not None else None)
        except Exception as exc:  # undecryptable secret (DRIFT_SECRET_KEY changed), no secret
            log.error("webhook %s: cannot sign (%s)", row["id"], exc)
            attempt = Attempt(error=f"signing: {type(exc).__name__}", blocked=True)
        else:
            attempt = await (self.sender.send(row["url"], headers, body)
                             if tracing.tracer is None
                             else self._traced_send(tenant_id, row, headers, body))
        schedule = self.schedules.get(row["retry_policy"], self.schedules["fast"])
        status, delay = outcome(attempt, attempt_no - int(row["retry_base"]), schedule,
                                self.retry_after_max)
        now = clock.now()
        return {"tenant_id": tenant_id, "endpoint_id": row["endpoint_id"], "id": row["id"],
                "attempt": attempt_no, "status": status, "status_code": attempt.status_code,
                "response_body": attempt.response_body, "latency_ms": attempt.latency_ms,
                "error": attempt.error, "attempted_at": now,
                "next_attempt_at": now + timedelta(seconds=delay) if delay is not None else None,
                "gone": attempt.status_code == 410, "interrupted": False,
                "exhausted": status == "failed" and retryable(attempt)}

    async def _traced_send(self, tenant_id: UUID, row: asyncpg.Record,
                           headers: list[tuple[bytes, bytes]], body: bytes) -> Attempt:
        """The attempt as a CLIENT span linked to the request that emitted the event."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        with tracing.tracer.start_as_current_span(
                "webhook.deliver", kind=SpanKind.CLIENT,
                links=tracing.links_to(row["traceparent"]),
                attributes={"drift.tenant_id": str(tenant_id),
                            "drift.webhook.delivery_id": str(row["id"]),
                            "drift.webhook.event_type": row["event_type"],
                            "drift.webhook.attempt": int(row["attempt"]),
                            "drift.webhook.sequence": int(row["seq"] or 0)}) as span:
            attempt = await self.sender.send(row["url"], headers, body)
            if attempt.status_code is not None:
                span.set_attribute("http.response.status_code", attempt.status_code)
            if not attempt.ok:
                span.set_status(Status(StatusCode.ERROR, attempt.error or "not delivered"))
            return attempt

    async def flush(self) -> None:
        batch, self.done = self.done, []
        by_tenant: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
        for result in batch:
            by_tenant[result["tenant_id"]].append(result)
        try:
            while by_tenant:
                tenant_id, results = next(iter(by_tenant.items()))
                async with own_tx(self.rt.db, tenant_id, self.ctx) as tx:
                    disabled = await apply_results(tx, results, self.threshold,
                                                   self.rt.secret_key)
                del by_tenant[tenant_id]
                count_results(results, disabled)  # committed: now they count
        except BaseException:
            self.done[:0] = [r for rs in by_tenant.values() for r in rs]
            raise


_ATTEMPT_OUTCOME = {"delivered": "delivered", "pending": "retry", "failed": "failed"}


def count_results(results: list[dict[str, Any]], disabled: list[tuple[str, int]]) -> None:
    """Metrics for a committed batch: attempts by outcome, dead letters, disabled endpoints
    (`disabled`: reason and pending deliveries failed with it, per endpoint)."""
    for r in results:
        outcome_ = "interrupted" if r.get("interrupted") else _ATTEMPT_OUTCOME[r["status"]]
        metrics.WEBHOOK_ATTEMPTS.labels(outcome_).inc()
        if r["status"] == "failed":
            metrics.WEBHOOK_DEAD_LETTERED.labels("final_attempt").inc()
    for reason, failed in disabled:
        metrics.WEBHOOK_ENDPOINTS_DISABLED.labels(reason).inc()
        if failed:
            metrics.WEBHOOK_DEAD_LETTERED.labels("endpoint_disabled").inc(failed)


async def apply_results(tx: Tx, results: list[dict[str, Any]], threshold: int,
                        secret_key: str) -> list[tuple[str, int]]:
    """Record attempt results of one tenant; run the circuit breaker and the 410 rule, and
    raise the operational alerts (app.webhooks.alerts). Returns (reason, pending deliveries
    failed) for each endpoint it disabled."""
    updated = await repository.record_results(tx, results)
    applied = {r["id"] for r in updated}
    now = clock.now()
    changes: dict[UUID, tuple[bool, int]] = {}
    gone: set[UUID] = set()
    for r in results:  # in completion order: a success resets the failures before it
        if r["id"] not in applied or r["status"] == "pending":
            continue
        endpoint = r["endpoint_id"]
        if r["status"] == "delivered":
            changes[endpoint] = (True, 0)
        else:
            reset, n = changes.get(endpoint, (False, 0))
            changes[endpoint] = (reset, n + 1)
            if r["gone"]:
                gone.add(endpoint)
    disable: dict[UUID, dict[str, Any]] = {
        e: {"reason": "gone", "detail": "the receiver answered 410 Gone"} for e in gone}
    if changes:
        for row in await repository.count_failures(tx, changes):
            if row["was_failing_since"] is not None and changes[row["id"]][0]:
                await alerts.endpoint_recovered(
                    tx, secret_key, endpoint_id=row["id"], url=row["url"],
                    failing_since=row["was_failing_since"], reason="delivered", now=now)
            if row["active"] and row["consecutive_failures"] >= threshold:
                disable.setdefault(row["id"], {
                    "reason": "circuit_breaker",
                    "detail": f"{row['consecutive_failures']} consecutive failed deliveries"})
    exhausted = {r["id"] for r in results if r.get("exhausted")}
    if exhausted:
        await alerts.deliveries_exhausted(
            tx, secret_key, [u for u in updated if u["id"] in exhausted], now)
    disabled: list[tuple[str, int]] = []
    for endpoint, why in disable.items():
        row = await repository.disable_endpoint(tx, endpoint, why["reason"], now)
        if row is None:
            continue
        failed = await repository.fail_pending(
            tx, endpoint, f"endpoint disabled: {why['detail']}", now)
        disabled.append((why["reason"], int(failed or 0)))
        log.warning("webhook endpoint %s disabled: %s", endpoint, why["detail"])
        await alerts.endpoint_disabled(tx, secret_key, row, reason=why["reason"],
                                       detail=why["detail"], failed=int(failed or 0), now=now)
        await record(tx, "webhook.disabled", resource_type="webhook", resource_id=endpoint,
                     actor=Actor.system(),
                     metadata={"reason": why["reason"], "detail": why["detail"],
                               "url": row["url"],
                               "consecutive_failures": row["consecutive_failures"],
                               "pending_deliveries_failed": failed})
    return disabled


async def shared_sender(rt: Runtime) -> Sender:
    """The runtime's sender, kept from one dispatcher run to the next so that a steady trickle
    of events reuses keep-alive connections (a run ends whenever the queue drains). Closed by
    Runtime.close()."""
    sender = rt.extras.get(SENDER_KEY)
    if isinstance(sender, Sender) and sender.loop is asyncio.get_running_loop() \
            and sender.ssl_context is tls_context():
        return sender
    if isinstance(sender, Sender) and sender.loop is asyncio.get_running_loop():
        await sender.aclose()  # the trusted CAs changed: drop its connections
    sender = rt.extras[SENDER_KEY] = Sender(rt.settings)
    return sender


async def run_once(rt: Runtime, *, tenants: Collection[UUID] | None = None) -> int:
    """Deliver everything due now (and whatever becomes due while sends are in flight).
    Returns the number of attempts made. `tenants` limits the run to those (tests, tools)."""
    return await _Run(rt, await shared_sender(rt), tenants).run()
