"""Enforcement: the tenant check every way into a tenant runs right after authentication.

Wired into every app by app.main.create_app (Runtime.tenant_checks and stream_rechecks;
imports the router, which imports this). `authenticate` (API keys, sessions) runs it before the
request transaction is opened or any handler work starts; SCIM and invitation acceptance call
`run_tenant_checks` themselves. The check needs only the request (for the client address that
RequestContextMiddleware resolved, and the matched endpoint), the runtime and the tenant id.

Exemptions are by endpoint, not by path string: a route handler decorated with
`@allowlist_exempt` is skipped (Starlette puts the matched endpoint in the ASGI scope before
dependencies run). Only the two emergency-reset endpoints use it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from fastapi import Request

from app.core import clock
from app.core.access import get_ctx, get_request_connection
from app.core.audit_record import record
from app.core.context import RequestContext
from app.core.errors import ProblemError
from app.core.net import IPAddress
from app.core.runtime import Runtime
from app.core.tx import Freshness, own_tx
from app.ipallow import repository
from app.ipallow.cache import cache_for
from app.ipallow.networks import CompiledList, CredentialScope, TenantLists, bypass_list, decide

log = logging.getLogger("drift.ipallow")

F = TypeVar("F", bound=Callable[..., Any])

EXEMPT_ATTR = "__drift_ip_allowlist_exempt__"


def allowlist_exempt(endpoint: F) -> F:
    """Mark a route handler as reachable from any address (apply below the route decorator)."""
    setattr(endpoint, EXEMPT_ATTR, True)
    return endpoint


def is_exempt(request: Request) -> bool:
    return bool(getattr(request.scope.get("endpoint"), EXEMPT_ATTR, False))


class IpNotAllowed(ProblemError):
    status, code, title = 403, "ip_not_allowed", "Address not allowed"


def _refusal(ip: IPAddress | None) -> IpNotAllowed:
    if ip is None:
        return IpNotAllowed(
            "This tenant only accepts requests from its IP allowlist, and the client address "
            "of this request could not be determined (a trusted proxy sent no usable "
            "X-Forwarded-For).", ip=None)
    return IpNotAllowed(f"This tenant only accepts requests from its IP allowlist; {ip} is not "
                        "on it. An admin can add it under /api/v1/settings/ip-allowlist.",
                        ip=str(ip))


def credential_of(ctx: RequestContext) -> tuple[CredentialScope, str]:
    """Which kind of credential the request carries: the entry scope it is checked against and
    the credential type the report names. Every caller of run_tenant_checks sets `ctx.actor`
    from the authenticated principal first (SCIM: a `scim` actor); a request without an
    actor (password login, refresh) is a user's."""
    actor = ctx.actor
    if actor is None:
        return "users", "login"
    if actor.type == "scim":
        return "scim", "scim_token"
    return "users", "api_key" if actor.type == "api_key" else "session"


async def check_ip_allowlist(request: Request, rt: Runtime, tenant_id: UUID,
                             freshness: Freshness | None = None) -> None:
    """Refuse (403 ip_not_allowed, audited) unless the tenant's allowlist, for the kind of
    credential the request carries, admits the client. A report-only (candidate) list is
    evaluated too: its would-be refusals go to the report, nothing is refused.

    With `freshness` (the caller enters a request transaction that proves it), a tenant
    whose lists are cached and admit the request (report-only list included) is let through
    without waiting for the cache's freshness barrier: the request's first statement proves
    that no allowlist change committed since the cache decided, or runs this check again
    the slow way first (app.core.tx.Freshness). Every refusal, and every would-be refusal,
    is decided the slow way, so none comes from a stale cache."""
    if is_exempt(request):
        return
    ctx = get_ctx(request)
    scope, credential = credential_of(ctx)
    bypass = bypass_list(rt.settings.ip_allowlist_bypass_cidrs)
    cache = cache_for(rt.db)
    if freshness is not None:
        cached = cache.without_barrier(tenant_id)
        if cached is not None:
            applied, lists = cached
            if _verdict(lists, scope, ctx.ip, bypass) == (True, False):
                freshness.defer(applied, functools.partial(check_ip_allowlist, request, rt,
                                                           tenant_id))
                return
    lists = await cache.get(tenant_id, get_request_connection(request).get)
    allowed, would_deny = _verdict(lists, scope, ctx.ip, bypass)
    if would_deny:
        await record_would_deny(rt, tenant_id, ctx, credential)
    if allowed:
        return
    await record_ip_denial(rt, tenant_id, ctx)
    raise _refusal(ctx.ip)


def _verdict(lists: TenantLists, scope: CredentialScope, ip: IPAddress | None,
             bypass: CompiledList) -> tuple[bool, bool]:
    """(the enforced list admits `ip`, the report-only list would refuse it), now."""
    if lists.empty:
        return True, False
    now = clock.now()
    candidate = lists.candidate[scope]
    would_deny = not candidate.empty and not decide(candidate, ip, now, bypass).allowed
    return decide(lists.enforced[scope], ip, now, bypass).allowed, would_deny


async def recheck_ip_allowlist(rt: Runtime, tenant_id: UUID, ctx: RequestContext,
                               conn: asyncpg.Connection) -> IpNotAllowed | None:
    """The same check for a response that outlives its request (the live audit stream), run
    with each of its reads: the refusal (audited like a request's) once the tenant's allowlist
    no longer admits the address the request came from, else None. `conn` (a pooled
    connection outside any transaction) is used only if the cache must read the database."""

    async def get_conn() -> asyncpg.Connection:
        return conn

    lists = await cache_for(rt.db).get(tenant_id, get_conn)
    scope, _ = credential_of(ctx)
    if lists.empty or decide(lists.enforced[scope], ctx.ip, clock.now(),
                             bypass_list(rt.settings.ip_allowlist_bypass_cidrs)).allowed:
        return None
    await record_ip_denial(rt, tenant_id, ctx)
    return _refusal(ctx.ip)


async def record_ip_denial(rt: Runtime, tenant_id: UUID, ctx: RequestContext) -> None:
    """`ip_allowlist.denied` in its own transaction, at most one per tenant, address and minute
    (per process in memory; across processes by checking the log under an advisory lock).
    Best effort: a failure is logged, never raised."""
    now = clock.now()
    minute = now.replace(second=0, microsecond=0)
    seen = cache_for(rt.db).denials
    key = (tenant_id, str(ctx.ip))
    if seen.get(key) == int(minute.timestamp()):
        return
    if len(seen) > 10_000:
        seen.clear()
    seen[key] = int(minute.timestamp())
    try:
        async with own_tx(rt.db, tenant_id, ctx) as tx:
            if await repository.lock_and_check_denial(tx, ctx.ip, minute,
                                                      minute + timedelta(minutes=1)):
                return
            await record(tx, "ip_allowlist.denied", outcome="denied",
                         resource_type="ip_allowlist",
                         metadata={"reason": "ip_not_allowed",
                                   "ip": str(ctx.ip) if ctx.ip is not None else None,
                                   "method": ctx.method, "path": ctx.path})
    except Exception:
        log.exception("could not record ip_allowlist.denied for tenant %s", tenant_id)


async def record_would_deny(rt: Runtime, tenant_id: UUID, ctx: RequestContext,
                            credential: str) -> None:
    """Count a would-be refusal of the candidate (report-only) list in ip_allowlist_report.
    Hits are counted in memory; the row is upserted (adding the hits counted so far) at most
    once per (tenant, credential type, address, user) and minute per process, in its own
    transaction. Best effort: a failure is logged, never raised."""
    now = clock.now()
    minute = int(now.timestamp()) // 60
    user_id = ctx.actor.id if ctx.actor is not None and credential != "scim_token" else None
    key = (tenant_id, credential, str(ctx.ip), user_id)
    pending = cache_for(rt.db).would_deny
    last_minute, hits = pending.get(key, (-1, 0))
    hits += 1
    if last_minute == minute:
        pending[key] = (minute, hits)
        return
    if len(pending) > 10_000:
        pending.clear()
    pending[key] = (minute, 0)
    try:
        async with own_tx(rt.db, tenant_id, ctx) as tx:
            await repository.upsert_report(tx, credential=credential, ip=ctx.ip,
                                           user_id=user_id, hits=hits, now=now)
    except Exception:
        log.exception("could not record a report-only denial for tenant %s", tenant_id)
