"""Per-tenant request budgets for the API and SCIM, shared by every API process.

A tenant's plan gives it a budget of requests per fixed window (`DRIFT_API_RATE_LIMITS`,
`DRIFT_SCIM_RATE_LIMITS`, per `DRIFT_RATE_LIMIT_WINDOW_SECONDS`). Processes do not count in
the database per request: each leases tokens for a tenant from PostgreSQL in chunks
(`drift_api.rate_lease`: min(what is left, `DRIFT_RATE_LIMIT_LEASE_FRACTION` of the budget),
one locked UPDATE on the tenant's window row) and spends them locally, leasing again when they
run out. So the sum of admitted requests across all processes never exceeds the budget, and
the database sees one statement per chunk (plus one per tenant, process and window), not one
per request. A process that found the window spent refuses locally until the window ends.
Tokens a process leased but did not spend by the end of the window are lost (at most one chunk
per process and tenant), so N processes may admit slightly fewer than the budget, never more.

The check runs as a tenant check (create_app puts it in Runtime.tenant_checks) as soon as an
authenticated request's tenant is known: API keys and sessions count as `api`, SCIM tokens
under /scim/v2 as `scim`. Requests without a bearer credential (login, refresh, invitation
acceptance, which the gate also serves) are not counted here: they have per-address throttles
of their own (app.auth.throttle). A refusal is 429 `rate_limited` with `Retry-After` and the
RateLimit / RateLimit-Policy fields of draft-ietf-httpapi-ratelimit-headers-10; under
/scim/v2 it renders as a SCIM Error (status "429").
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime
from uuid import UUID

from fastapi import Request

from app.core import clock
from app.core.access import get_request_connection
from app.core.errors import TooManyRequests
from app.core.metrics import RATE_LIMITED
from app.core.runtime import Runtime
from app.core.tx import Freshness
from app.ratelimit import repository
from app.scim.constants import PREFIX as SCIM_PREFIX

log = logging.getLogger("drift.ratelimit")

MAX_BUCKETS = 50_000


class Bucket:
    __slots__ = ("budget", "exhausted", "tokens", "unlimited", "window_end")

    def __init__(self, window_end: float, tokens: int, budget: int, *, unlimited: bool) -> None:
        self.window_end = window_end
        self.tokens = tokens
        self.budget = budget
        self.unlimited = unlimited
        self.exhausted = not unlimited and tokens <= 0


class TenantBudgets:
    """This process's leased tokens, per (tenant, kind)."""

    def __init__(self, rt: Runtime) -> None:
        s = rt.settings
        self.window = s.rate_limit_window_seconds
        self.fraction = s.rate_limit_lease_fraction
        self.budgets = {"api": dict(s.api_rate_limits), "scim": dict(s.scim_rate_limits)}
        self._buckets: dict[tuple[UUID, str], Bucket] = {}
        self._locks: dict[tuple[UUID, str], asyncio.Lock] = {}
        self._logged: dict[tuple[UUID, str], float] = {}

    async def spend(self, request: Request, tenant_id: UUID, kind: str) -> None:
        if not any(self.budgets[kind].values()):
            return  # no plan has a limit: nothing to count
        now = clock.now().timestamp()
        key = (tenant_id, kind)
        bucket = self._buckets.get(key)
        if bucket is None or now >= bucket.window_end or (bucket.tokens <= 0
                                                          and not bucket.unlimited
                                                          and not bucket.exhausted):
            bucket = await self._lease(request, key, now)
        if bucket.unlimited:
            return
        if bucket.tokens > 0:
            bucket.tokens -= 1
            return
        raise self._refusal(bucket, now, key)

    async def _lease(self, request: Request, key: tuple[UUID, str], now: float) -> Bucket:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            bucket = self._buckets.get(key)
            if bucket is not None and now < bucket.window_end and (
                    bucket.unlimited or bucket.tokens > 0 or bucket.exhausted):
                return bucket  # another request of this process leased meanwhile
            start = math.floor(now / self.window) * self.window
            conn = await get_request_connection(request).get()
            row = await repository.lease(conn, key[0], key[1],
                                         datetime.fromtimestamp(start, UTC),
                                         self.budgets[key[1]], self.fraction)
            end = row["window_start"].timestamp() + self.window
            bucket = Bucket(end, row["granted"] or 0, row["budget"],
                            unlimited=row["granted"] is None)
            if len(self._buckets) >= MAX_BUCKETS:
                self._prune(now)
            self._buckets[key] = bucket
            return bucket

    def _prune(self, now: float) -> None:
        for k in [k for k, b in self._buckets.items() if b.window_end <= now]:
            self._buckets.pop(k, None)
            self._locks.pop(k, None)
            self._logged.pop(k, None)

    def _refusal(self, bucket: Bucket, now: float, key: tuple[UUID, str]) -> TooManyRequests:
        tenant_id, kind = key
        retry = max(1, math.ceil(bucket.window_end - now))
        RATE_LIMITED.labels(kind).inc()
        if self._logged.get(key) != bucket.window_end:  # one line per tenant, kind and window
            self._logged[key] = bucket.window_end
            log.info("rate_limited kind=%s tenant=%s budget=%d window=%ds", kind, tenant_id,
                     bucket.budget, self.window,
                     extra={"event": "rate_limited", "kind": kind, "tenant_id": str(tenant_id)})
        return TooManyRequests(
            f"This tenant's {kind.upper()} request budget ({bucket.budget} requests per "
            f"{self.window} seconds) is spent; retry in {retry} seconds.",
            headers={"Retry-After": str(retry),
                     "RateLimit-Policy": f'"{kind}";q={bucket.budget};w={self.window}',
                     "RateLimit": f'"{kind}";r=0;t={retry}'})


def budgets_for(rt: Runtime) -> TenantBudgets:
    budgets = rt.extras.get("tenant_budgets")
    if budgets is None:
        budgets = rt.extras["tenant_budgets"] = TenantBudgets(rt)
    if not isinstance(budgets, TenantBudgets):
        raise RuntimeError("expected isinstance(budgets, TenantBudgets)")
    return budgets


async def check_budget(request: Request, rt: Runtime, tenant_id: UUID,
                       _freshness: Freshness | None = None) -> None:
    """Spend one request of the tenant's budget (API or SCIM), or refuse with 429. Spending is
    decided here and now: nothing is left for the request's statement to prove."""
    if "authorization" not in request.headers:
        return  # login, refresh, invitation acceptance: throttled per address instead
    kind = "scim" if request.scope["path"].startswith(SCIM_PREFIX + "/") else "api"
    await budgets_for(rt).spend(request, tenant_id, kind)
