"""Lock-out recovery: the owner's emailed one-time link, and the operator's CLI reset.

Owner self-service: `request_reset` (owner credentials, reachable from any address) stores the
SHA-256 of a `dce_` token valid 30 minutes, supersedes any earlier unused link, and queues the
email in the caller's transaction (the worker sends it after commit). `complete_reset` (token
only) clears the entries once. Operator: `operator_reset` clears them from the CLI. Each path
records `ip_allowlist.emergency_reset`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from app.core import clock
from app.core.audit_record import record, record_denial
from app.core.context import Actor, RequestContext
from app.core.db import Database
from app.core.errors import Conflict, Gone, NotFound, ProblemError
from app.core.events import build_data
from app.core.outbox import emit
from app.core.principal import Principal
from app.core.runtime import Runtime
from app.core.security import RESET_TOKEN_PREFIX, new_token, token_hash
from app.core.tx import Tx, own_tx
from app.email.service import enqueue
from app.ipallow import repository

RESET_TTL = timedelta(minutes=30)
RESET_LIMIT_PER_HOUR = 5
RESET_PATH = "/api/v1/settings/ip-allowlist/emergency-reset"


class TooManyRequests(ProblemError):
    status, code, title = 429, "too_many_requests", "Too many requests"


def reset_link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{RESET_PATH}/{token}"


def _email_body(slug: str, ip: str, link: str, expires_at: datetime, entries: int) -> str:
    return (
        f"Someone signed in as the owner of the Drift Cloud tenant \"{slug}\" asked to clear "
        f"its IP allowlist (request from {ip}).\n\n"
        f"To remove all {entries} allowlist entries, open this link before "
        f"{expires_at:%Y-%m-%d %H:%M} UTC. It works once:\n\n"
        f"{link}\n\n"
        "Clearing the allowlist lets requests with valid credentials in from any address "
        "until an admin adds entries again.\n\n"
        "If you did not ask for this, ignore this email and rotate the owner's API keys and "
        "password: whoever asked is using them.\n")


async def request_reset(rt: Runtime, tx: Tx, principal: Principal) -> dict[str, Any]:
    """Email the owner a one-time link that clears the allowlist (owner only)."""
    if not principal.email or principal.user_id is None:
        raise Conflict("The owner has no email address to send the reset link to; ask the "
                       "operator to run `drift-cloud ip-allowlist reset`.",
                       code="owner_has_no_email")
    now = clock.now()
    if await repository.recent_reset_requests(tx, now - timedelta(hours=1)) \
            >= RESET_LIMIT_PER_HOUR:
        raise TooManyRequests(f"At most {RESET_LIMIT_PER_HOUR} reset links per hour; use the "
                              "most recent email.", headers={"Retry-After": "600"})
    superseded = await repository.supersede_pending_resets(tx, now)
    token = new_token(RESET_TOKEN_PREFIX)
    expires_at = now + RESET_TTL
    row = await repository.insert_reset(tx, digest=token_hash(token),
                                        requested_by=principal.user_id, email=principal.email,
                                        requested_ip=tx.ctx.ip, expires_at=expires_at, now=now)
    slug = await repository.tenant_slug(tx) or str(tx.tenant_id)
    entries = await repository.count(tx)
    ip = str(tx.ctx.ip) if tx.ctx.ip is not None else "an unknown address"
    await enqueue(tx, rt.secret_key, kind="ip_allowlist_reset", to_address=principal.email,
                  subject=f"Drift Cloud: clear the IP allowlist of {slug}?",
                  body=_email_body(slug, ip, reset_link(rt.settings.public_url, token),
                                   expires_at, entries))
    await record(tx, "ip_allowlist.reset_requested", resource_type="ip_allowlist",
                 resource_id=row["id"],
                 metadata={"sent_to": principal.email, "expires_at": expires_at,
                           "superseded": superseded})
    return {"status": "email_sent", "sent_to": principal.email, "expires_at": expires_at}


def parse_token(token: str) -> bytes | None:
    if not token.startswith(RESET_TOKEN_PREFIX) or len(token) > 128:
        return None
    return token_hash(token)


async def _usable_reset(rt: Runtime, tx: Tx, reset_id: UUID, digest: bytes, *, lock: bool
                        ) -> asyncpg.Record:
    row = await (repository.get_reset_for_update(tx, reset_id, digest) if lock
                 else repository.get_reset(tx, reset_id, digest))
    if row is None:
        raise NotFound("This reset link is not valid.", code="reset_token_invalid")
    now = clock.now()
    reason = ("used" if row["used_at"] is not None else
              "superseded" if row["superseded_at"] is not None else
              "expired" if row["expires_at"] <= now else None)
    if reason is None:
        return row
    if lock:  # an attempt to use a dead link: worth a line in the log (own transaction)
        tx.ctx.actor = Actor(type="user", id=row["requested_by"], email=row["email"])
        await record_denial(rt.db, tx.tenant_id, tx.ctx, "ip_allowlist.emergency_reset",
                            reason=f"token_{reason}", resource_type="ip_allowlist",
                            resource_id=reset_id)
    messages = {
        "used": "This reset link has already been used.",
        "superseded": "A newer reset link was sent; use the most recent email.",
        "expired": "This reset link has expired (links are valid for 30 minutes); ask for a "
                   "new one.",
    }
    raise Gone(messages[reason], code=f"reset_token_{reason}")


async def describe_reset(rt: Runtime, tx: Tx, reset_id: UUID, digest: bytes) -> dict[str, Any]:
    """What the link would do (GET: shows a confirmation, changes nothing)."""
    row = await _usable_reset(rt, tx, reset_id, digest, lock=False)
    return {"tenant": await repository.tenant_slug(tx) or str(tx.tenant_id),
            "entries": await repository.count(tx, repository.USERS_ENFORCED),
            "expires_at": row["expires_at"]}


async def _reset_event(tx: Tx) -> None:
    await emit(tx, "ip_allowlist.changed", build_data(
        "ip_allowlist.changed", action="emergency_reset", entry_id=None, cidr=None))


async def complete_reset(rt: Runtime, tx: Tx, reset_id: UUID, digest: bytes) -> dict[str, Any]:
    """Clear the allowlist with a one-time emailed token (no credentials needed)."""
    row = await _usable_reset(rt, tx, reset_id, digest, lock=True)
    now = clock.now()
    await repository.lock_tenant_list(tx)
    # Only what refuses users: entries scoped to SCIM (the IdP's ranges) and candidate entries
    # stay, so the IdP's restriction survives an owner's recovery.
    removed = await repository.delete_all(tx, repository.USERS_ENFORCED)
    await repository.mark_reset_used(tx, reset_id, tx.ctx.ip, now)
    tx.ctx.actor = Actor(type="user", id=row["requested_by"], email=row["email"])
    await _reset_event(tx)
    await record(tx, "ip_allowlist.emergency_reset", resource_type="ip_allowlist",
                 resource_id=reset_id,
                 metadata={"via": "email_link", "cleared": len(removed),
                           "entries": [str(r["cidr"]) for r in removed],
                           "requested_at": row["created_at"]})
    return {"status": "cleared", "cleared": len(removed)}


async def operator_reset(db: Database, tenant_id: UUID, *, operator: str, host: str
                         ) -> dict[str, Any]:
    """The operator's emergency reset (CLI): clear the entries, audited with actor system."""
    ctx = RequestContext(actor=Actor.system(), request_id=f"cli-{clock.now():%Y%m%dT%H%M%S}")
    async with own_tx(db, tenant_id, ctx) as tx:
        slug = await repository.tenant_slug(tx)
        if slug is None:
            raise NotFound(f"No tenant {tenant_id}.", code="tenant_not_found")
        await repository.lock_tenant_list(tx)
        removed = await repository.delete_all(tx)
        await _reset_event(tx)
        await record(tx, "ip_allowlist.emergency_reset", resource_type="ip_allowlist",
                     metadata={"via": "cli", "operator": operator, "host": host,
                               "cleared": len(removed),
                               "entries": [str(r["cidr"]) for r in removed]})
    return {"tenant_id": str(tenant_id), "slug": slug, "cleared": len(removed),
            "entries": [str(r["cidr"]) for r in removed]}
