"""GET /api/v1/audit: one page of the tenant's log, newest or oldest first.

Pages are ordered by `seq`, the tenant's commit-ordered position (docs/audit.md, "Ordering"):
- newest first (default): the cursor is the last position shown and the next page holds
  positions below it. Events that arrive meanwhile get higher positions, so they can neither
  push an unseen event off a page nor show up twice.
- oldest first: the page holds positions above the cursor, up to the log's newest committed
  position H read before the page; every position <= H is committed, so nothing can appear
  behind the cursor later. The returned cursor is always set (the last event shown, or H when
  the page was the last), so a client can keep polling with it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass

import asyncpg

from app.audit import repository
from app.audit.filters import AuditFilters, Direction, Position, encode_position
from app.core import replica as replica_reads
from app.core.audit_record import record
from app.core.errors import BadRequest
from app.core.replica import ReadReplica
from app.core.responses import dumps
from app.core.tx import Tx

TOTAL_CAP = 1_000


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[asyncpg.Record]
    cursor: str | None
    has_more: bool
    total: int
    total_capped: bool

    def body(self) -> bytes:
        """The envelope, with the event JSON PostgreSQL built spliced in as is."""
        pagination = {"cursor": self.cursor, "has_more": self.has_more, "total": self.total,
                      "total_capped": self.total_capped}
        return (b'{"data":[' + b",".join(bytes(r["j"]) for r in self.rows)
                + b'],"pagination":' + dumps(pagination) + b"}")


def direction_for(position: Position | None, order: Direction | None) -> Direction:
    if position is not None and order is not None and position.direction != order:
        raise BadRequest(f"This cursor continues {position.direction}ending order; drop "
                         f"`order` or pass order={position.direction}.",
                         code="cursor_order_mismatch")
    if order is not None:
        return order
    return position.direction if position is not None else "desc"


async def query_page(tx: Tx, f: AuditFilters, *, position: Position | None,
                     order: Direction | None, limit: int,
                     replica: ReadReplica | None = None) -> Page:
    direction = direction_for(position, order)
    desc = direction == "desc"
    start = position.seq if position is not None else None

    def page(t: Tx) -> Awaitable[repository.PageRows]:
        return repository.read_page(
            t, f, limit=limit + 1, desc=desc, count_cap=TOTAL_CAP, async_commit=True,
            after_seq=None if desc else (start or 0), before_seq=start if desc else None)

    # On the replica only if it has replayed the cursor's position: every position <= head
    # is there (positions are commit-ordered, and the standby replays commits in order), so
    # the page misses nothing the primary committed below the cursor (docs/scaling.md).
    got = await replica_reads.read(replica, tx, page,
                                   complete=lambda rows: start is None or rows.head >= start)
    rows = got.rows[:limit]
    has_more = len(got.rows) > limit
    if desc:
        cursor = encode_position(int(rows[-1]["seq"]), "desc") if has_more else None
    else:
        # every position <= head was visible to the page's statement, so a client can always
        # continue from there (filtered-out events included)
        last = int(rows[-1]["seq"]) if has_more else max(got.head, start or 0)
        cursor = encode_position(last, "asc")
    await record(tx, "audit.query", metadata={
        "filters": f.as_metadata(), "order": direction, "limit": limit, "returned": len(rows),
        "cursor": start})
    return Page(rows=rows, cursor=cursor, has_more=has_more, total=got.total or 0,
                total_capped=got.total_capped)
