"""Throttling of failed logins and token guesses (docs/operations.md, "Rate limits").

State lives in PostgreSQL (`drift_private.auth_throttle`, through drift_api definer functions)
so every API process sees the same counts. Keys are HMAC-SHA256 digests (keyed with the
service's secret key) of what they count, so the table holds no email or address:

- login: per account (tenant slug + email, whether or not either exists) and per client
  address. `DRIFT_LOGIN_MAX_FAILURES` failures of an account (`DRIFT_LOGIN_IP_MAX_FAILURES`
  from one address) within `DRIFT_LOGIN_FAILURE_WINDOW_SECONDS` lock it for
  `DRIFT_LOGIN_LOCKOUT_SECONDS`, doubling with every further lockout up to
  `DRIFT_LOGIN_LOCKOUT_MAX_SECONDS`. The lock is checked before anything is looked up, so an
  unknown account and a known one get the same 429, and a right password is refused too.
- refresh, invitation accept, emergency reset: invalid tokens per client address
  (`DRIFT_TOKEN_IP_MAX_FAILURES`), same window and back-off.

IPv6 clients are counted per /64 (one host usually owns the whole prefix).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
from datetime import datetime
from typing import Literal

from app.auth import repository
from app.core import clock
from app.core.audit_record import record_denial
from app.core.context import RequestContext
from app.core.errors import TooManyRequests
from app.core.metrics import RATE_LIMITED
from app.core.runtime import Runtime

log = logging.getLogger("drift.auth.throttle")

TokenKind = Literal["refresh", "invitation", "ip_reset"]


def _key(rt: Runtime, *parts: str) -> bytes:
    return hmac.new(rt.secret_key.encode(), "\0".join(parts).encode(), hashlib.sha256).digest()


def _address(ctx: RequestContext) -> str | None:
    if ctx.ip is None:
        return None
    if ctx.ip.version == 6:
        return str(ipaddress.ip_network(f"{ctx.ip}/64", strict=False))
    return str(ctx.ip)


def refusal(until: datetime, detail: str, kind: str = "login") -> TooManyRequests:
    retry = max(1, math.ceil((until - clock.now()).total_seconds()))
    RATE_LIMITED.labels(kind).inc()
    return TooManyRequests(f"{detail} Retry in {retry} seconds.", code="too_many_attempts",
                           headers={"Retry-After": str(retry)})


class LoginGuard:
    """One login attempt's throttle keys: `check` before anything is looked up, then
    `failed` or `succeeded`."""

    def __init__(self, rt: Runtime, ctx: RequestContext, tenant_slug: str, email: str) -> None:
        self.rt, self.ctx = rt, ctx
        self.slug = tenant_slug.strip().lower()
        self.account = _key(rt, "login-account", self.slug, email.lower())
        address = _address(ctx)
        self.ip = _key(rt, "login-ip", address) if address else None

    @property
    def keys(self) -> list[bytes]:
        return [self.account] + ([self.ip] if self.ip else [])

    async def check(self) -> None:
        until = await repository.throttle_locked_until(self.rt.db, self.keys, clock.now())
        if until is None:
            return
        log.info("rate_limited kind=login ip=%s", self.ctx.ip,
                 extra={"event": "rate_limited", "kind": "login"})
        tenant_id = await repository.tenant_id_for_slug(self.rt.db, self.slug)
        if tenant_id is not None:  # an unknown tenant has no log to record it in
            await record_denial(self.rt.db, tenant_id, self.ctx, "auth.login_throttled",
                                reason="too_many_failures", resource_type="login")
        raise refusal(until, "Too many failed sign-in attempts.")

    async def failed(self) -> None:
        s = self.rt.settings
        now = clock.now()
        for key, kind, limit in ((self.account, "login", s.login_max_failures),
                                 (self.ip, "login_ip", s.login_ip_max_failures)):
            if key is None:
                continue
            until = await repository.throttle_failure(
                self.rt.db, key, kind, now, max_failures=limit,
                window_seconds=s.login_failure_window_seconds,
                base_seconds=s.login_lockout_seconds, max_seconds=s.login_lockout_max_seconds)
            if until is not None:
                log.warning("login locked out until %s (%s)", until.isoformat(), kind,
                            extra={"event": "login_locked", "kind": kind})

    async def succeeded(self) -> None:
        await repository.throttle_clear(self.rt.db, self.account, clock.now())


async def check_token_guesses(rt: Runtime, ctx: RequestContext, kind: TokenKind) -> None:
    """429 when this client address has guessed too many invalid `kind` tokens."""
    address = _address(ctx)
    if address is None:
        return
    until = await repository.throttle_locked_until(rt.db, [_key(rt, kind, address)],
                                                   clock.now())
    if until is not None:
        log.info("rate_limited kind=%s ip=%s", kind, ctx.ip,
                 extra={"event": "rate_limited", "kind": kind})
        raise refusal(until, "Too many invalid tokens from this address.", kind="token")


async def token_guess_failed(rt: Runtime, ctx: RequestContext, kind: TokenKind) -> None:
    address = _address(ctx)
    if address is None:
        return
    s = rt.settings
    await repository.throttle_failure(
        rt.db, _key(rt, kind, address), kind, clock.now(), max_failures=s.token_ip_max_failures,
        window_seconds=s.login_failure_window_seconds, base_seconds=s.login_lockout_seconds,
        max_seconds=s.login_lockout_max_seconds)
