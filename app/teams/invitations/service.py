"""Invitations: an admin invites an email address with a role (and optionally a team); the
invitee gets a one-time link by email and accepting it makes them a member.

Lifecycle: pending -> accepted | revoked | expired (expired = pending past expires_at; a resend
makes it pending again with a new token and expiry). Only pending invitations hold a seat.

The token (`dci_` + 32 random bytes) exists only in the email: the API never returns it, so
holding it proves access to the invited mailbox. It is stored as SHA-256; a trigger indexes the
hash in drift_private.token_index, which is how acceptance (no credentials) finds the tenant.
A resend replaces the hash: the old link then resolves to the invitation but no longer
matches it (410 invitation_superseded).

Seat-consuming changes (create, resend of an expired invitation, accept) lock the tenant row
first (the same lock app.teams.seats takes), so concurrent invitations cannot overbook seats
or create two pending invitations for one address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from app.auth import repository as auth_repo
from app.auth.service import start_session
from app.core import clock
from app.core.audit_record import record
from app.core.context import Actor, RequestContext
from app.core.emails import canonical_address
from app.core.errors import Conflict, Gone, NotFound
from app.core.events import build_data
from app.core.outbox import emit
from app.core.principal import Principal
from app.core.runtime import Runtime
from app.core.security import (
    INVITATION_TOKEN_PREFIX,
    constant_time_equals,
    hash_password_async,
    new_token,
    token_hash,
)
from app.core.sql import expect_row
from app.core.tx import Tx, own_tx
from app.email.service import enqueue
from app.teams.invitations import repository
from app.teams.invitations.repository import Status
from app.teams.invitations.schemas import InvitationAccept, InvitationCreate
from app.teams.members import repository as members_repo
from app.teams.seats import ensure_seat_available
from app.teams.teams import repository as teams_repo
from app.teams.teams.service import managed_by_scim
from app.tenants import repository as tenants_repo

EMAIL_KIND = "invitation"
REVOKED_BY_ADMIN = "admin"
SUPERSEDED_BY_SCIM = "superseded_by_scim"
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True, slots=True)
class TokenMatch:
    """What an invitation token resolved to, before anything else is done with it."""
    tenant_id: UUID
    invitation_id: UUID
    digest: bytes


def _link(rt: Runtime, token: str) -> str:
    return f"{rt.settings.public_url.rstrip('/')}/invitations/{token}"


async def _send(rt: Runtime, tx: Tx, *, tenant_name: str, inviter: str | None, email: str,
                role: str, team_name: str | None, token: str, expires_at: datetime) -> None:
    """Queue the invitation email (the worker sends it after commit)."""
    team = f", in the team {team_name}," if team_name else ""
    body = (
        "Hello,\n\n"
        f"{inviter or 'An administrator'} invited you to join {tenant_name} on Drift Cloud "
        f"as {'an' if role == 'admin' else 'a'} {role}{team}.\n\n"
        "Accept the invitation here:\n\n"
        f"{_link(rt, token)}\n\n"
        f"The link works once and expires on {expires_at.strftime('%Y-%m-%d %H:%M UTC')}.\n"
        "If you did not expect this invitation, ignore this email: nothing happens unless the "
        "link is used.\n"
    )
    await enqueue(tx, rt.secret_key, kind=EMAIL_KIND, to_address=email,
                  subject=f"You are invited to join {tenant_name} on Drift Cloud", body=body)


async def _lock_tenant(tx: Tx) -> asyncpg.Record:
    tenant = await tenants_repo.get_tenant_for_update(tx)
    if tenant is None:
        raise RuntimeError("the tenant row is visible inside its own transaction")
    return tenant


async def _ensure_not_member(tx: Tx, email: str) -> None:
    user = await members_repo.find_by_address(tx, email)
    if user is not None and user["active"]:
        raise Conflict(f"{email} is already an active member of this tenant.",
                       code="already_member")


async def _ensure_no_pending(tx: Tx, email: str, now: datetime,
                             other_than: UUID | None = None) -> None:
    pending = await repository.pending_for_email(tx, email, now, other_than=other_than)
    if pending is not None:
        raise Conflict(f"{email} already has a pending invitation ({pending['id']}); resend "
                       "or revoke it instead.", code="invitation_exists",
                       invitation_id=str(pending["id"]))


async def _get(tx: Tx, invitation_id: UUID) -> asyncpg.Record:
    row = await repository.get(tx, invitation_id, for_update=True)
    if row is None:
        raise NotFound("No invitation with that id.", code="invitation_not_found")
    return row


def _not_pending(row: asyncpg.Record) -> Conflict | None:
    if row["accepted_at"] is not None:
        return Conflict("This invitation has already been accepted.",
                        code="invitation_already_accepted")
    if row["revoked_at"] is not None:
        return Conflict("This invitation has been revoked; create a new one.",
                        code="invitation_revoked")
    return None


# ---- admin API ----

async def create_invitation(rt: Runtime, tx: Tx, principal: Principal, body: InvitationCreate
                            ) -> asyncpg.Record:
    now = clock.now()
    tenant = await _lock_tenant(tx)
    team_name = None
    if body.team_id is not None:
        team = await teams_repo.get_team(tx, body.team_id)
        if team is None:
            raise NotFound("No team with that id.", code="team_not_found")
        if team["scim_managed"]:
            raise managed_by_scim(team, "its membership")
        team_name = team["name"]
    await _ensure_not_member(tx, body.email)
    await _ensure_no_pending(tx, body.email, now)
    await ensure_seat_available(tx, adding=1, locked=True)
    token = new_token(INVITATION_TOKEN_PREFIX)
    expires_at = now + timedelta(seconds=body.ttl_seconds)
    invitation_id = await repository.insert(
        tx, email=body.email, role=body.role, team_id=body.team_id,
        token_digest=token_hash(token), expires_at=expires_at, ttl_seconds=body.ttl_seconds,
        invited_by=principal.user_id, now=now)
    await _send(rt, tx, tenant_name=tenant["name"], inviter=principal.email, email=body.email,
                role=body.role, team_name=team_name, token=token, expires_at=expires_at)
    await emit(tx, "invitation.created", build_data(
        "invitation.created", invitation_id=invitation_id, email=body.email, role=body.role,
        team_id=body.team_id))
    await record(tx, "invitation.create", resource_id=invitation_id,
                 metadata={"email": body.email, "role": body.role,
                           "team_id": str(body.team_id) if body.team_id else None,
                           "expires_at": expires_at.isoformat()})
    row = await repository.get(tx, invitation_id)
    return expect_row(row)


async def list_invitations(tx: Tx, *, status: Status, after: tuple[datetime, UUID] | None,
                           limit: int) -> tuple[list[asyncpg.Record], int]:
    return await repository.list_page(tx, status=status, now=clock.now(), after=after,
                                      limit=limit)


async def revoke_invitation(tx: Tx, invitation_id: UUID) -> None:
    """Revoke a pending (or expired) invitation: its link stops working, its seat is freed."""
    row = await _get(tx, invitation_id)
    refused = _not_pending(row)
    if refused is not None:
        raise refused
    now = clock.now()
    await repository.revoke(tx, invitation_id, now, REVOKED_BY_ADMIN)
    await emit(tx, "invitation.revoked", build_data(
        "invitation.revoked", invitation_id=invitation_id, email=row["email"], role=row["role"],
        team_id=row["team_id"], reason=REVOKED_BY_ADMIN))
    await record(tx, "invitation.revoke", resource_id=invitation_id,
                 metadata={"email": row["email"], "role": row["role"],
                           "reason": REVOKED_BY_ADMIN, "was_expired": row["expires_at"] <= now})


async def resend_invitation(rt: Runtime, tx: Tx, principal: Principal, invitation_id: UUID,
                            ttl_seconds: int | None) -> asyncpg.Record:
    """New token, new expiry, email again; the previous link stops working. An expired
    invitation becomes pending again, so it needs a free seat (and no other pending invitation
    to the same address)."""
    tenant = await _lock_tenant(tx)
    row = await _get(tx, invitation_id)
    refused = _not_pending(row)
    if refused is not None:
        raise refused
    now = clock.now()
    was_expired = row["expires_at"] <= now
    if was_expired:
        await _ensure_not_member(tx, row["email"])
        await _ensure_no_pending(tx, row["email"], now, other_than=invitation_id)
        await ensure_seat_available(tx, adding=1, locked=True)
    ttl = ttl_seconds or int(row["ttl_seconds"])
    token = new_token(INVITATION_TOKEN_PREFIX)
    expires_at = now + timedelta(seconds=ttl)
    await repository.reissue(tx, invitation_id, token_digest=token_hash(token),
                             expires_at=expires_at, ttl_seconds=ttl, now=now)
    await _send(rt, tx, tenant_name=tenant["name"], inviter=principal.email,
                email=row["email"], role=row["role"], team_name=row["team_name"], token=token,
                expires_at=expires_at)
    await record(tx, "invitation.resend", resource_id=invitation_id,
                 metadata={"email": row["email"], "was_expired": was_expired,
                           "expires_at": expires_at.isoformat(),
                           "sent_count": int(row["sent_count"]) + 1})
    out = await repository.get(tx, invitation_id)
    if out is None:
        raise RuntimeError("expected out is not None")
    return out


@dataclass(slots=True)
class Superseded:
    """The invitations `supersede_invitations` revoked. Call `audit()` as the caller's last
    step: audit.record() takes the tenant's audit chain lock (docs/audit.md, "Ordering")."""
    rows: list[asyncpg.Record]
    reason: str
    tenant_locked: bool  # tenant row locked FOR NO KEY UPDATE: ensure_seat_available(locked=)

    async def audit(self, tx: Tx, user_id: UUID | None = None) -> None:
        now = clock.now()
        for row in self.rows:
            await record(tx, "invitation.revoke", resource_id=row["id"],
                         metadata={"email": row["email"], "role": row["role"],
                                   "reason": self.reason,
                                   "was_expired": row["expires_at"] <= now,
                                   "user_id": str(user_id) if user_id else None})


def invitation_addresses(addresses: Iterable[str | None]) -> list[str]:
    """The addresses an invitation to this person would be stored under (app.core.emails)."""
    return sorted({canonical_address(a.strip()) for a in addresses if a and a.strip()})


async def supersede_invitations(tx: Tx, addresses: Iterable[str | None], *, reason: str
                                ) -> Superseded:
    """The hook for every path that makes someone a member without an invitation (SCIM
    create and reactivation, a future SSO just-in-time provisioning): invitations to the
    person's addresses are moot once they are provisioned. Every open one (pending or expired)
    is revoked with `reason`, in the caller's transaction, so it frees its seat and its link
    answers 410 invitation_revoked (and cannot make a second account later).

    Call it BEFORE ensure_seat_available(tx, locked=result.tenant_locked), and
    `result.audit(tx, user_id)` last. Lock order: when there is something to revoke, the
    tenant row is locked first (as invitation create, resend and accept do), then the
    invitations; when there is nothing (the usual case) this costs one indexed read and takes
    no lock. Addresses are compared in their stored form (app.core.emails), case-insensitively.
    """
    wanted = invitation_addresses(addresses)
    if not wanted or not await repository.any_open_for(tx, wanted):
        return Superseded([], reason, tenant_locked=False)
    await _lock_tenant(tx)
    rows = await repository.revoke_open_for(tx, wanted, clock.now(), reason)
    return Superseded(list(rows), reason, tenant_locked=True)


# ---- acceptance (no credentials: the token is the credential) ----

def _unknown() -> NotFound:
    return NotFound("No invitation matches this link.", code="invitation_not_found")


async def resolve_token(rt: Runtime, token: str) -> TokenMatch:
    """Token -> tenant and invitation (404 if unknown). Nothing else happens here: the caller
    runs the tenant's checks (IP allowlist) before going further."""
    if not token.startswith(INVITATION_TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        raise _unknown()
    digest = token_hash(token)
    found = await auth_repo.token_tenant(rt.db, digest, "invitation")
    if found is None:
        raise _unknown()
    return TokenMatch(tenant_id=found["tenant_id"], invitation_id=found["ref_id"],
                      digest=digest)


async def accept_invitation(rt: Runtime, ctx: RequestContext, match: TokenMatch,
                            body: InvitationAccept | None) -> dict[str, Any]:
    """Create (or reactivate) the invited user, join the team, start a session.

    One transaction of the invitation's tenant: any refusal (410, 409, 402) changes nothing."""
    name = body.name if body else None
    password_hash = (await hash_password_async(body.password)
                     if body is not None and body.password else None)
    async with own_tx(rt.db, match.tenant_id, ctx) as tx:
        await _lock_tenant(tx)
        inv = await repository.get(tx, match.invitation_id, for_update=True)
        if inv is None:
            raise _unknown()
        if not constant_time_equals(bytes(inv["token_hash"]), match.digest):
            raise Gone("This invitation link has been replaced by a newer one; use the link "
                       "in the most recent invitation email.", code="invitation_superseded")
        if inv["accepted_at"] is not None:
            raise Conflict("This invitation has already been used; sign in instead.",
                           code="invitation_already_accepted")
        if inv["revoked_at"] is not None:
            if inv["revoked_reason"] == SUPERSEDED_BY_SCIM:
                raise Gone("This invitation is no longer needed: your organisation's identity "
                           "provider has already created your account. Sign in through it.",
                           code="invitation_revoked", reason=SUPERSEDED_BY_SCIM)
            raise Gone("This invitation has been revoked; ask an administrator for a new one.",
                       code="invitation_revoked")
        now = clock.now()
        if inv["expires_at"] <= now:
            raise Gone("This invitation has expired; ask an administrator to resend it.",
                       code="invitation_expired", expired_at=inv["expires_at"].isoformat())
        existing = await members_repo.find_by_address(tx, inv["email"], for_update=True)
        if existing is not None and existing["active"]:
            raise Conflict(f"{inv['email']} is already an active member; sign in instead.",
                           code="already_member")
        # the pending seat this invitation holds becomes an active one
        await ensure_seat_available(tx, adding=1, releasing=1, locked=True)
        if existing is None:
            try:
                user = await auth_repo.insert_user(
                    tx, email=inv["email"], user_name=inv["email"], display_name=name,
                    role=inv["role"], password_hash=password_hash, now=now)
            except asyncpg.UniqueViolationError as exc:
                raise Conflict(f"{inv['email']} is already a member; sign in instead.",
                               code="already_member") from exc
            user_id: UUID = user["id"]
        else:
            user_id = existing["id"]
            await members_repo.reactivate(tx, user_id, role=inv["role"], display_name=name,
                                          password_hash=password_hash, now=now)
        ctx.actor = Actor(type="user", id=user_id, email=inv["email"])
        team_id, joined = await _join_team(tx, inv, user_id, now)
        await repository.mark_accepted(tx, inv["id"], user_id, now)
        session_id, pair = await start_session(rt, tx, user_id)
        ctx.actor.credential_id = session_id
        await emit(tx, "invitation.accepted", build_data(
            "invitation.accepted", invitation_id=inv["id"], email=inv["email"],
            role=inv["role"], team_id=team_id, user_id=user_id))
        await emit(tx, "member.added", build_data(
            "member.added", user_id=user_id, email=inv["email"], role=inv["role"],
            source="invitation"))
        if joined:
            await emit(tx, "team.member.added", build_data(
                "team.member.added", team_id=team_id, team_name=inv["team_name"],
                user_id=user_id, email=inv["email"], role="member", source="invitation"))
        await record(tx, "invitation.accept", resource_id=inv["id"],
                     metadata={"email": inv["email"], "role": inv["role"],
                               "user_id": str(user_id), "reactivated": existing is not None,
                               "team_id": str(team_id) if team_id else None,
                               "password_set": password_hash is not None})
        if joined:
            await record(tx, "team.member_add", resource_id=team_id,
                         metadata={"user_id": str(user_id), "email": inv["email"],
                                   "role": "member", "team_name": inv["team_name"],
                                   "via": "invitation", "invitation_id": str(inv["id"])})
        user_row = await auth_repo.get_user(tx, user_id)
    if user_row is None:
        raise RuntimeError("expected user_row is not None")
    return {"user": {"id": user_row["id"], "email": user_row["email"],
                     "user_name": user_row["user_name"], "name": user_row["display_name"],
                     "role": user_row["role"]},
            **pair.as_dict(), "team_id": team_id}


async def _join_team(tx: Tx, inv: asyncpg.Record, user_id: UUID, now: datetime
                     ) -> tuple[UUID | None, bool]:
    """Add the new member to the invitation's team, if it still exists and is not managed by
    the IdP (a team that became SCIM-managed is left to SCIM). Returns the team the user is
    now in (None if none) and whether this added them (a reactivated member may already be)."""
    if inv["team_id"] is None:
        return None, False
    team = await teams_repo.get_team(tx, inv["team_id"])
    if team is None or team["scim_managed"]:
        return None, False
    joined = await teams_repo.insert_membership(tx, team["id"], user_id, "member", now)
    team_id: UUID = team["id"]
    return team_id, joined
