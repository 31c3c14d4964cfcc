"""Allowlist entries: create, list, change, delete, check; lock-out protection. Never commits.

Lock-out protection: after a change is applied (inside the request transaction, under a
per-tenant advisory lock so concurrent changes see each other), the caller's own current
address is matched against the resulting list in the database (`cidr >>= ip`, GiST index),
with the operator bypass networks. If it would be refused, the change is refused with
409 would_lock_out_caller (and rolled back) unless the request says `force: true`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.core import clock
from app.core.audit_record import record
from app.core.errors import BadRequest, Conflict, NotFound, found
from app.core.events import build_data
from app.core.outbox import emit
from app.core.principal import Principal
from app.core.sql import expect_row
from app.core.tx import Tx
from app.ipallow import repository
from app.ipallow.networks import MAX_ENTRIES, CompiledList, parse_address, parse_cidr
from app.ipallow.schemas import EntryCreate, EntryUpdate, entry_out


def _clean_description(value: str | None) -> str | None:
    return value or None


async def _lock_out_check(tx: Tx, bypass: CompiledList, force: bool) -> bool:
    """After the change: would the caller's current address be refused? Raises 409 unless
    forced; returns True when a forced change locks the caller out."""
    ip = tx.ctx.ip
    total, row = await repository.match(tx, ip, clock.now())
    if total == 0 or row is not None:
        return False
    if ip is not None and bypass.match(ip) is not None:
        return False
    if force:
        return True
    seen = str(ip) if ip is not None else "unknown"
    raise Conflict(
        f"After this change your own address ({seen}) would no longer be allowed, so your next "
        "request would be refused. Add an entry that covers it first, or repeat the request "
        "with \"force\": true to lock yourself out on purpose.",
        code="would_lock_out_caller", ip=str(ip) if ip is not None else None)


def _duplicate(cidr: str, mode: str) -> Conflict:
    which = "candidate (report_only) list" if mode == "report_only" else "allowlist"
    return Conflict(f"{cidr} is already on the {which}; change that entry instead.",
                    code="duplicate_cidr")
async def _changed(tx: Tx, action: str, row: asyncpg.Record) -> None:
    """The ip_allowlist.changed event (before the audit record: docs/audit.md, "Ordering")."""
    await emit(tx, "ip_allowlist.changed", build_data(
        "ip_allowlist.changed", action=action, entry_id=row["id"], cidr=str(row["cidr"]),
        description=row["description"]))


async def create_entry(tx: Tx, principal: Principal, body: EntryCreate, bypass: CompiledList
                       ) -> asyncpg.Record:
    network = parse_cidr(body.cidr)
    now = clock.now()
    if body.expires_at is not None and body.expires_at <= now:
        raise BadRequest("expires_at must be in the future.", code="expires_at_in_past")
    await repository.lock_tenant_list(tx)
    if await repository.count(tx) >= MAX_ENTRIES:
        raise Conflict(f"The allowlist already has the maximum of {MAX_ENTRIES} entries; "
                       "combine networks or remove some first.", code="allowlist_full")
    try:
        row = await repository.insert(tx, cidr=network,
                                      description=_clean_description(body.description),
                                      expires_at=body.expires_at, scope=body.scope,
                                      mode=body.mode, created_by=principal.user_id, now=now)
    except asyncpg.UniqueViolationError as exc:
        raise _duplicate(str(network), body.mode) from exc
    locked_out = await _lock_out_check(tx, bypass, body.force)
    meta: dict[str, Any] = {"cidr": str(network), "description": row["description"],
                            "expires_at": row["expires_at"], "scope": row["scope"],
                            "mode": row["mode"]}
    if locked_out:
        meta["forced_lock_out"] = True
    await _changed(tx, "added", row)
    await record(tx, "ip_allowlist.add", resource_id=row["id"], metadata=meta)
    return row


async def get_entry(tx: Tx, entry_id: UUID) -> asyncpg.Record:
    return found(await repository.get(tx, entry_id), "No allowlist entry with that id.")


async def list_entries(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                       ) -> tuple[list[asyncpg.Record], int]:
    return await repository.list_page(tx, after=after, limit=limit)


async def update_entry(tx: Tx, entry_id: UUID, body: EntryUpdate, bypass: CompiledList
                       ) -> asyncpg.Record:
    fields = body.model_dump(exclude_unset=True, exclude={"force"})
    for name in ("scope", "mode"):
        if name in fields and fields[name] is None:
            raise BadRequest(f"{name} cannot be null; leave it out to keep it.",
                             code=f"invalid_{name}")
    if "description" in fields:
        fields["description"] = _clean_description(fields["description"])
    await repository.lock_tenant_list(tx)
    before = await repository.get(tx, entry_id, for_update=True)
    if before is None:
        raise NotFound("No allowlist entry with that id.")
    try:
        row = await repository.update(tx, entry_id, fields, clock.now())
    except asyncpg.UniqueViolationError as exc:
        raise _duplicate(str(before["cidr"]), fields.get("mode", before["mode"])) from exc
    row = expect_row(row)
    locked_out = await _lock_out_check(tx, bypass, body.force)
    changes = {k: {"from": before[k], "to": row[k]} for k in fields if before[k] != row[k]}
    meta: dict[str, Any] = {"cidr": str(row["cidr"]), "changes": changes}
    if locked_out:
        meta["forced_lock_out"] = True
    if changes:
        await _changed(tx, "updated", row)
    await record(tx, "ip_allowlist.update", resource_id=entry_id, metadata=meta)
    return row


async def delete_entry(tx: Tx, entry_id: UUID, *, force: bool, bypass: CompiledList) -> None:
    await repository.lock_tenant_list(tx)
    row = found(await repository.delete(tx, entry_id), "No allowlist entry with that id.")
    locked_out = await _lock_out_check(tx, bypass, force)
    meta: dict[str, Any] = {"cidr": str(row["cidr"]), "description": row["description"],
                            "expires_at": row["expires_at"]}
    if locked_out:
        meta["forced_lock_out"] = True
    await _changed(tx, "removed", row)
    await record(tx, "ip_allowlist.remove", resource_id=entry_id, metadata=meta)


async def promote(tx: Tx, *, force: bool, bypass: CompiledList) -> dict[str, Any]:
    """End a trial: the report-only (candidate) entries become the enforced list, the entries
    enforced until now are removed, the report is cleared. Lock-out protected and audited."""
    await repository.lock_tenant_list(tx)
    if await repository.count(tx, "mode = 'report_only'") == 0:
        raise Conflict("There are no report_only entries to promote; add the candidate list "
                       "first (POST with \"mode\": \"report_only\").",
                       code="no_candidate_entries")
    removed, promoted = await repository.promote_candidates(tx, clock.now())
    locked_out = await _lock_out_check(tx, bypass, force)
    cleared = await repository.clear_report(tx)
    meta: dict[str, Any] = {
        "promoted": [{"cidr": str(r["cidr"]), "scope": r["scope"]} for r in promoted],
        "removed": [{"cidr": str(r["cidr"]), "scope": r["scope"]} for r in removed],
        "report_rows_cleared": cleared}
    if locked_out:
        meta["forced_lock_out"] = True
    await record(tx, "ip_allowlist.promote", resource_type="ip_allowlist", metadata=meta)
    return {"status": "promoted", "promoted": len(promoted), "removed": len(removed)}


async def report(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                 ) -> tuple[list[asyncpg.Record], int]:
    return await repository.report_page(tx, after=after, limit=limit)


async def check_address(tx: Tx, ip_text: str, bypass: CompiledList, *,
                        credential: str = "users", mode: str = "enforce") -> dict[str, Any]:
    """Would `ip` be allowed right now for that kind of credential by that list (the enforced
    one by default), and by which entry (read-only)."""
    ip = parse_address(ip_text)
    now = clock.now()
    total, row = await repository.match_in(tx, ip, now,
                                           repository.list_filter(credential, mode))
    if total == 0:
        allowed, reason = True, "no_entries"
    elif row is not None:
        allowed, reason = True, "entry"
    elif bypass.match(ip) is not None:
        allowed, reason = True, "bypass"
    else:
        allowed, reason = False, "not_listed"
    return {"ip": str(ip), "allowed": allowed, "reason": reason,
            "entry": entry_out(row, now) if row is not None else None}
