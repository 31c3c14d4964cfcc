"""Stream tickets: how a browser opens the live audit stream.

`EventSource` cannot send an Authorization header. A page asks for a ticket with its bearer
credential (`POST /api/v1/audit/stream/tickets`, admin+, audited as `audit.stream_ticket`) and
opens `GET /api/v1/audit/stream?ticket=...`. A ticket is

- a random secret (`dst_` + 32 random bytes) shown once and stored as SHA-256 in PostgreSQL
  (`audit_stream_tickets`, found through drift_private.token_index), so any API process can
  redeem it;
- valid for TICKET_TTL (app clock) and for one use: the redeeming UPDATE takes it only if it
  is unused and unexpired, under a row lock, so two processes cannot both take it;
- bound to its tenant and to the credential (API key or session) that asked for it: the
  stream runs as that credential, which is re-verified when the stream opens and with every
  read after (revoked, expired, deactivated: refused or ended), behind the tenant's IP
  allowlist as a header-authenticated stream is. A request that carries a ticket and a
  different bearer credential is refused and leaves the ticket unused.

Refusals are 401 problems: `stream_ticket_invalid` (unknown, malformed, another caller's),
`stream_ticket_used`, `stream_ticket_expired`; the last two are recorded as `auth.denied`.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated, Any, NoReturn
from uuid import UUID

from fastapi import Query, Request

from app.audit import repository
from app.auth import repository as auth_repo
from app.core import clock
from app.core.access import (
    bearer_token,
    enter_for,
    get_ctx,
    get_request_connection,
    get_runtime,
    lookup_principal,
    run_tenant_checks,
    tenant_tx,
)
from app.core.audit_record import record, record_denial
from app.core.errors import Unauthorized
from app.core.principal import Principal, Role
from app.core.security import token_hash
from app.core.tx import RequestTx, Tx, own_tx

TICKET_PREFIX = "dst_"
TICKET_TTL = timedelta(seconds=60)
# used and expired tickets are kept this long (a late retry learns "used", not "invalid")
KEEP_SPENT = timedelta(hours=1)

TicketQ = Annotated[str | None, Query(max_length=128, description=(
    "A stream ticket from POST /api/v1/audit/stream/tickets, instead of the Authorization "
    "header (which EventSource cannot send). Single use, valid for 60 seconds."))]


async def issue(tx: Tx, principal: Principal) -> dict[str, Any]:
    now = clock.now()
    await repository.prune_stream_tickets(tx, now - KEEP_SPENT)
    ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + TICKET_TTL
    if principal.user_id is None:  # admin+ principals are users (API key or session)
        raise RuntimeError("a stream ticket needs a user credential")
    ticket_id = await repository.insert_stream_ticket(
        tx, ticket_hash=token_hash(ticket), credential_type=principal.credential_type,
        credential_id=principal.credential_id, user_id=principal.user_id,
        ip=str(tx.ctx.ip) if tx.ctx.ip is not None else None, expires_at=expires_at)
    await record(tx, "audit.stream_ticket", resource_type="audit_stream_ticket",
                 resource_id=ticket_id, metadata={"expires_at": expires_at.isoformat()})
    return {"ticket": ticket, "expires_at": expires_at}


def _invalid() -> Unauthorized:
    return Unauthorized("The stream ticket is not valid. Ask for a new one with "
                        "POST /api/v1/audit/stream/tickets.", code="stream_ticket_invalid")


async def _redeem(request: Request, ticket: str) -> RequestTx:
    rt = get_runtime(request)
    ctx = get_ctx(request)
    digest = token_hash(ticket) if ticket.startswith(TICKET_PREFIX) else None
    found = await auth_repo.token_tenant(rt.db, digest, "stream_ticket") if digest else None
    if digest is None or found is None:
        raise _invalid()
    tenant_id: UUID = found["tenant_id"]
    holder: Principal | None = None
    token = bearer_token(request)
    if token is not None:  # a ticket is only ever used by whoever it was issued to
        holder, _ = await lookup_principal(rt, ctx, token)
        if holder.tenant_id != tenant_id:
            raise _invalid()
    ip = str(ctx.ip) if ctx.ip is not None else None
    async with own_tx(rt.db, tenant_id, ctx) as tx:
        row = await repository.use_stream_ticket(
            tx, found["ref_id"], digest, clock.now(), ip,
            holder.credential_id if holder is not None else None)
    if row is None:
        raise _invalid()
    principal = Principal(tenant_id=tenant_id, credential_type=row["credential_type"],
                          credential_id=row["credential_id"], user_id=row["user_id"],
                          email=row["email"], role=Role(row["role"]))
    ctx.actor = principal.actor
    if not row["taken"]:
        if not row["was_used"] and not row["expired"]:
            raise _invalid()  # another credential's ticket
        reason = "used" if row["was_used"] else "expired"
        await record_denial(rt.db, tenant_id, ctx, "auth.denied",
                            reason=f"stream_ticket_{reason}",
                            resource_type="audit_stream_ticket", resource_id=row["id"])
        raise Unauthorized(f"The stream ticket has {'been used' if reason == 'used' else reason}"
                           "; a ticket opens one stream within 60 seconds. Ask for a new one "
                           "with POST /api/v1/audit/stream/tickets.",
                           code=f"stream_ticket_{reason}")
    await run_tenant_checks(request, rt, tenant_id)  # the IP allowlist, as for any credential

    async def refused(reason: str) -> NoReturn:
        kind = principal.credential_type
        await record_denial(rt.db, tenant_id, ctx, "auth.denied", reason=f"{kind}_{reason}",
                            resource_type=kind, resource_id=principal.credential_id,
                            metadata={"stream_ticket": str(row["id"])})
        raise Unauthorized("The credential this stream ticket was issued to is no longer "
                           "valid.", code=f"{'credential' if kind == 'api_key' else 'session'}"
                           f"_{reason}")

    tx = RequestTx(get_request_connection(request), tenant_id, ctx, principal,
                   enter_for(principal), refused, read_only=True)
    request.state.principal = principal
    request.state.stream_ticket_id = row["id"]
    return tx


async def stream_tx(request: Request, ticket: TicketQ = None) -> Tx:
    """The stream request's transaction: entered with the bearer credential, or with the
    credential a ticket was issued to."""
    if ticket is None:
        return await tenant_tx(request)  # authenticates the bearer credential itself
    return await _redeem(request, ticket)
