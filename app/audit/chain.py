"""The per-tenant hash chain and GET /api/v1/audit/verify.

Each event's hash is sha256(prev_hash || canonical(event)), where canonical() is the versioned
JSON array drift_api.audit_canonical builds from the stored columns (tenant, seq, id,
created_at in UTC, actor, action, resource, outcome, ip, user agent, request id, metadata) and
prev_hash is the previous event's hash (32 zero bytes before the tenant's first event). The
chain trigger assigns seq, prev_hash and hash at INSERT under the tenant's chain-head lock.

Verification reads one REPEATABLE READ snapshot, recomputes every hash in the range here (in
Python, independently of the database's sha256) and checks, in order:
- positions run without gaps from the start of the range (`missing_events`),
- each event's prev_hash is the previous event's hash (`chain_broken`),
- each hash matches the event's content (`hash_mismatch`),
- if the range reaches the newest event, its hash is the chain head's (`head_mismatch`, i.e.
  the newest events were removed).
A range that starts at the oldest kept event starts from the retention boundary stored by the
retention functions (the hash of the newest removed event), so retention never looks like
tampering while removing the oldest kept events still does.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from app.audit import repository
from app.audit.long_reads import heavy_reads, open_snapshot
from app.core.audit_record import record
from app.core.runtime import Runtime
from app.core.tx import Tx

FETCH_ROWS = 2000
ZERO_HASH = bytes(32)


def _break(reason: str, detail: str, *, row: Any = None, seq: int | None = None,
           expected: bytes | None = None, actual: bytes | None = None) -> dict[str, Any]:
    return {"seq": int(row["seq"]) if row is not None else seq,
            "id": row["id"] if row is not None else None,
            "created_at": row["created_at"] if row is not None else None,
            "reason": reason, "detail": detail,
            "expected": expected.hex() if expected is not None else None,
            "actual": actual.hex() if actual is not None else None}


async def verify_range(tx: Tx, *, after: datetime | None, before: datetime | None
                       ) -> dict[str, Any]:
    """Recompute the chain over the events with after <= created_at < before (by position:
    from the first such event to the last, everything in between included)."""
    head = await repository.chain_head(tx)
    out: dict[str, Any] = {"valid": True, "checked": 0, "first_break": None, "from_seq": None,
                           "to_seq": None, "head": None, "boundary": None}
    if head is None or head["last_seq"] == 0:
        return out
    last, first_kept = int(head["last_seq"]), int(head["retained_seq"]) + 1
    out["head"] = {"seq": last, "hash": bytes(head["last_hash"]).hex()}
    if head["retained_seq"]:
        out["boundary"] = {"seq": int(head["retained_seq"]),
                           "hash": bytes(head["retained_hash"]).hex()}
    lo: int | None = first_kept
    if after is not None:
        found = await repository.first_seq_from(tx, after)
        lo = max(found, first_kept) if found is not None else None
    hi: int | None = last if before is None else await repository.last_seq_before(tx, before)
    if lo is None or hi is None or lo > hi:
        return out
    out["from_seq"], out["to_seq"] = lo, hi

    if lo == first_kept:
        expected_prev = bytes(head["retained_hash"]) if head["retained_seq"] else ZERO_HASH
    else:
        prev = await repository.hash_at(tx, lo - 1)
        if prev is None:
            out["valid"] = False
            out["first_break"] = _break("missing_events", f"Event {lo - 1}, which precedes "
                                        "the range, is missing.", seq=lo - 1)
            return out
        expected_prev = bytes(prev)

    expect, checked, problem = lo, 0, None
    cursor = await repository.verify_cursor(tx, from_seq=lo, to_seq=hi)
    while problem is None:
        rows = await cursor.fetch(FETCH_ROWS)
        for row in rows:
            seq, prev_hash, stored = int(row["seq"]), bytes(row["prev_hash"]), bytes(row["hash"])
            if seq != expect:
                problem = (_break("missing_events", f"Event {expect} is missing (the next "
                                  f"event found is {seq}).", seq=expect) if seq > expect else
                           _break("chain_broken", f"Event {seq} appears more than once.",
                                  row=row))
                break
            if prev_hash != expected_prev:
                problem = _break("chain_broken", "The event does not link to the previous "
                                 "event's hash: an event before it was removed, replaced or "
                                 "reordered.", row=row, expected=expected_prev, actual=prev_hash)
                break
            computed = hashlib.sha256(prev_hash + bytes(row["canonical"])).digest()
            if computed != stored:
                problem = _break("hash_mismatch", "The event's content does not match its "
                                 "hash: it was changed after it was recorded.", row=row,
                                 expected=computed, actual=stored)
                break
            checked += 1
            expected_prev = stored
            expect += 1
        if len(rows) < FETCH_ROWS:
            break
    if problem is None and expect <= hi:
        problem = _break("missing_events", f"Events {expect} to {hi} are missing.", seq=expect)
    if problem is None and hi == last and expected_prev != bytes(head["last_hash"]):
        problem = _break("head_mismatch", "The newest event does not match the chain head: "
                         "the newest events were removed or replaced.", seq=last,
                         expected=bytes(head["last_hash"]), actual=expected_prev)
    out["checked"] = checked
    if problem is not None:
        out["valid"], out["first_break"] = False, problem
    return out


async def verify(rt: Runtime, tx: Tx, *, after: datetime | None, before: datetime | None
                 ) -> dict[str, Any]:
    """Verify in a snapshot of its own (so retention or new events committing meanwhile cannot
    make the boundary, the rows and the head disagree) and record `audit.verify`."""
    limiter = heavy_reads(rt)
    limiter.acquire()
    try:
        snap = await open_snapshot(rt, tx)
        try:
            result = await verify_range(snap.tx, after=after, before=before)
        finally:
            await snap.close()
    finally:
        limiter.release()
    await repository.asynchronous_commit(tx)
    await record(tx, "audit.verify", metadata={
        "after": after.isoformat() if after else None,
        "before": before.isoformat() if before else None,
        "valid": result["valid"], "checked": result["checked"],
        "first_break_seq": result["first_break"]["seq"] if result["first_break"] else None})
    return result
