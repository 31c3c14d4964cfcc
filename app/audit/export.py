"""GET /api/v1/audit/export: NDJSON, oldest first, streamed, with a cursor to continue.

Protocol (docs/audit.md, "Export"): the export covers the matching events after the cursor's
position up to an end position E that is fixed before the headers go out, in one REPEATABLE
READ snapshot:
- without `limit`, E is the newest committed position of the tenant's log at the start;
- with `limit`, E is the position of the limit-th matching event (or the newest, if fewer).
`X-Drift-Next-Cursor` (and `Link: <...>; rel="next"`) encode E, so the next export starts
exactly after everything this one covered: positions are commit-ordered and every position
<= E is already committed, so no event can later appear at or below E. Events that commit
while the body streams are not in it (they are above E) and come with the next pull.

The body is read from a server-side cursor in chunks on a connection of the export's own
(the request's connection is released when the response starts), so memory stays flat and
the first bytes go out after the first chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from app.audit import ocsf, repository
from app.audit.filters import AuditFilters, encode_position
from app.audit.long_reads import ManagedStream, heavy_reads, open_snapshot
from app.core.audit_record import record
from app.core.runtime import Runtime
from app.core.tx import OwnTx, Tx

FIRST_CHUNK_ROWS = 100  # small, so the first bytes go out at once
CHUNK_ROWS = 2000
NDJSON = "application/x-ndjson"


async def _lines(snap: OwnTx, f: AuditFilters, *, after_seq: int, upto_seq: int,
                 fmt: str = "drift") -> AsyncIterator[bytes]:
    if upto_seq <= after_seq:
        return
    await repository.open_export_cursor(snap.tx, f, after_seq=after_seq, upto_seq=upto_seq)
    size = FIRST_CHUNK_ROWS
    while True:
        rows = await repository.fetch_export(snap.tx, size)
        if rows:
            yield b"".join(rows) if fmt == "drift" else b"".join(ocsf.line(r) for r in rows)
        if len(rows) < size:
            return
        size = CHUNK_ROWS


async def start_export(rt: Runtime, tx: Tx, f: AuditFilters, *, after_seq: int,
                       limit: int | None, link_for: Callable[[str], str],
                       fmt: str = "drift") -> ManagedStream:
    """Fix the export's bounds, record `audit.export` in the request transaction (it commits
    as the response starts) and return the streaming response. `fmt`: `drift` (the API's
    event JSON) or `ocsf` (app.audit.ocsf)."""
    limiter = heavy_reads(rt)
    limiter.acquire()
    snap: OwnTx | None = None
    try:

        async def covers_cursor(s: OwnTx) -> bool:
            # a replica's snapshot serves only if it has replayed the cursor's position
            # (docs/scaling.md, "Read replicas"); E is then computed in that snapshot
            return await repository.last_seq(s.tx) >= after_seq

        snap = await open_snapshot(rt, tx, accept=covers_cursor)
        head = await repository.last_seq(snap.tx)
        end, has_more = max(head, after_seq), False
        if limit is not None and head > after_seq:
            found = await repository.nth_positions(snap.tx, f, after_seq=after_seq,
                                                   upto_seq=head, skip=limit - 1, take=2)
            if found:
                end, has_more = found[0], len(found) > 1
        await repository.asynchronous_commit(tx)
        await record(tx, "audit.export", metadata={
            "filters": f.as_metadata(), "after_seq": after_seq, "through_seq": end,
            "limit": limit, "format": fmt})
    except BaseException:
        if snap is not None:
            await snap.close()
        limiter.release()
        raise
    opened = snap

    async def cleanup() -> None:
        await opened.close()
        limiter.release()

    cursor = encode_position(end, "asc")
    headers = {
        "X-Drift-Next-Cursor": cursor,
        "X-Drift-Has-More": "true" if has_more else "false",
        "Link": f'<{link_for(cursor)}>; rel="next"',
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    }
    return ManagedStream(_lines(opened, f, after_seq=after_seq, upto_seq=end, fmt=fmt),
                         cleanup=cleanup, media_type=NDJSON, headers=headers)
