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

from dataclasses import dataclass

import asyncpg

from app.audit import repository
from app.audit.filters import AuditFilters, Direction, Position, encode_position
from app.audit.service import record
from app.core.db import Tx
from app.core.errors import BadRequest
from app.core.responses import dumps

TOTAL_CAP = 10_000


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
                     order: Direction | None, limit: int) -> Page:
    direction = direction_for(position, order)
    if direction == "desc":
        rows = await repository.page(
            tx, f, limit=limit + 1, desc=True, after_seq=None,
            before_seq=position.seq if position is not None else None, upto_seq=None)
        has_more = len(rows) > limit
        rows = rows[:limit]
        cursor = encode_position(int(rows[-1]["seq"]), "desc") if has_more else None
    else:
        start = position.seq if position is not None else 0
        head = await repository.last_seq(tx)
        rows = await repository.page(tx, f, limit=limit + 1, desc=False, after_seq=start,
                                     before_seq=None, upto_seq=head)
        has_more = len(rows) > limit
        rows = rows[:limit]
        cursor = encode_position(int(rows[-1]["seq"]) if has_more else max(head, start), "asc")
    total, capped = await repository.count(tx, f, cap=TOTAL_CAP)
    await record(tx, "audit.query", resource_type="audit", metadata={
        "filters": f.as_metadata(), "order": direction, "limit": limit, "returned": len(rows),
        "cursor": position.seq if position is not None else None})
    return Page(rows=rows, cursor=cursor, has_more=has_more, total=total, total_capped=capped)
