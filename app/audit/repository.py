"""SQL for the audit log. Every value is a bound parameter.

Event JSON is built by PostgreSQL (EVENT_JSON) and handed through as bytes: the page query,
the NDJSON export and the live stream emit exactly the same object, and the API process does no
per-row serialisation on the export path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg
from asyncpg.cursor import CursorFactory

from app.audit.filters import AuditFilters
from app.core.db import Database
from app.core.sql import expect_row
from app.core.tx import Tx

# One event as the API shows it. created_at is always UTC with microseconds.
EVENT_JSON = """json_build_object(
    'id', id,
    'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'actor', json_build_object('type', actor_type, 'id', actor_id, 'email', actor_email),
    'action', action,
    'resource', json_build_object('type', resource_type, 'id', resource_id),
    'outcome', outcome, 'ip', host(ip), 'user_agent', user_agent, 'request_id', request_id,
    'metadata', metadata, 'seq', seq, 'hash', encode(hash, 'hex'))"""
_JSON_BYTES = f"convert_to({EVENT_JSON}::text, 'UTF8')"
_NDJSON_LINE = f"convert_to({EVENT_JSON}::text || E'\\n', 'UTF8')"

_EXPORT_CURSOR = "audit_export"

_CANONICAL = ("drift_api.audit_canonical(tenant_id, seq, id, created_at, actor_type, actor_id, "
              "actor_email, action, resource_type, resource_id, outcome, ip, user_agent, "
              "request_id, metadata)")


# ---- filters ----

def _where(tx: Tx, f: AuditFilters, args: list[object], *, after_seq: int | None = None,
           before_seq: int | None = None, upto_seq: int | None = None) -> str:
    """WHERE clause for the filters; appends its arguments to `args`. tenant_id is explicit as
    well as enforced by RLS: it lets the planner use per-tenant statistics."""

    def p(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    prefix_end = None
    if f.action_prefix:
        prefix_end = f.action_prefix[:-1] + chr(ord(f.action_prefix[-1]) + 1)
    # each condition applies when its value is given (None: no such filter)
    conditions: list[tuple[str, object]] = [
        ("actor_id = {}", f.actor_id),
        ("actor_email_key = lower({})", f.actor_email),
        ('action COLLATE "C" = {}', f.action),
        ('action COLLATE "C" >= {}', f.action_prefix or None),
        ('action COLLATE "C" < {}', prefix_end),
        # a stored generated column (COLLATE "C", indexed with seq): an expression on `action`
        # would not be LEAKPROOF and could not use an index under RLS
        ("action_verb = {}", f.action_verb),
        ("resource_type = {}", f.resource_type),
        ("resource_id = {}", f.resource_id),
        ("outcome = {}", f.outcome),
        ("created_at >= {}", f.after),
        ("created_at < {}", f.before),
        ("seq > {}", after_seq),
        ("seq < {}", before_seq),
        ("seq <= {}", upto_seq),
    ]
    clauses = [f"tenant_id = {p(tx.tenant_id)}"]
    clauses += [condition.format(p(value)) for condition, value in conditions
                if value is not None]
    return " AND ".join(clauses)


# ---- chain head ----

async def chain_head(tx: Tx) -> asyncpg.Record | None:
    return await tx.fetchrow(
        "SELECT last_seq, last_hash, retained_seq, retained_hash, retained_at FROM audit_chain"
        " WHERE tenant_id = $1", tx.tenant_id)


async def last_seq(tx: Tx) -> int:
    """The newest committed position of the tenant's log (0 when empty)."""
    value = await tx.fetchval("SELECT last_seq FROM audit_chain WHERE tenant_id = $1",
                              tx.tenant_id)
    return int(value or 0)


# ---- query ----

@dataclass(frozen=True, slots=True)
class PageRows:
    head: int                    # the newest position in the same snapshot as the rows
    rows: list[asyncpg.Record]   # (seq, j: event JSON bytes)
    total: int | None = None
    total_capped: bool = False


async def read_page(tx: Tx, f: AuditFilters, *, limit: int, desc: bool,
                    after_seq: int | None = None, before_seq: int | None = None,
                    count_cap: int | None = None, async_commit: bool = False) -> PageRows:
    """Up to `limit` events (newest or oldest first), the log's newest position and, with
    `count_cap`, how many events match the filters (exact up to the cap): one statement, so
    all three come from one snapshot (every position <= head is visible in it).

    With no filter the total comes from the chain head: positions are dense between the
    retention boundary and the newest event, so it is exact and costs one row.

    `async_commit` also switches the transaction to asynchronous commit (see
    asynchronous_commit), saving the hot query path a round trip."""
    args: list[object] = []
    head_sql = (f"SELECT coalesce((SELECT last_seq FROM audit_chain WHERE tenant_id = "
                f"${len(args) + 1}), 0) AS head, coalesce((SELECT last_seq - retained_seq"
                f" FROM audit_chain WHERE tenant_id = ${len(args) + 1}), 0) AS span")
    if async_commit:
        head_sql += ", set_config('synchronous_commit', 'off', true) AS sync"
    args.append(tx.tenant_id)
    if count_cap is None or f.empty:
        total_sql = "SELECT NULL::bigint AS n"
    else:
        where = _where(tx, f, args)
        args.append(count_cap + 1)
        total_sql = (f"SELECT count(*) AS n FROM (SELECT 1 FROM audit_events WHERE {where}"
                     f" LIMIT ${len(args)}) c")
    where = _where(tx, f, args, after_seq=after_seq, before_seq=before_seq)
    args.append(limit)
    direction = "DESC" if desc else "ASC"
    rows = await tx.fetch(
        f"WITH h AS ({head_sql}), t AS ({total_sql}),"
        f" p AS (SELECT seq, {_JSON_BYTES} AS j FROM audit_events WHERE {where}"
        f" ORDER BY seq {direction} LIMIT ${len(args)})"
        f" SELECT h.head, h.span, t.n, p.seq, p.j FROM h CROSS JOIN t LEFT JOIN p ON true"
        f" ORDER BY p.seq {direction}", *args)
    first = rows[0]
    page_rows = [r for r in rows if r["seq"] is not None]
    if count_cap is None:
        return PageRows(head=int(first["head"]), rows=page_rows)
    if f.empty:  # exact at any size
        return PageRows(head=int(first["head"]), rows=page_rows, total=int(first["span"]))
    n = int(first["n"])
    return PageRows(head=int(first["head"]), rows=page_rows, total=min(n, count_cap),
                    total_capped=n > count_cap)


async def asynchronous_commit(tx: Tx) -> None:
    """Let this transaction's COMMIT return before its WAL is flushed.

    For transactions whose only writes are read-audit events (audit.query, audit.export...):
    the tenant's chain lock is held until COMMIT returns, so without this every read of a
    tenant's log would wait for the previous one's fsync. A database crash can lose the last
    such events (about 3 x wal_writer_delay); never an event of a change, and never a hole in
    the chain: WAL is flushed in order, so what survives is always a prefix."""
    await tx.execute("SET LOCAL synchronous_commit = off")


# ---- export and stream ----

async def nth_positions(tx: Tx, f: AuditFilters, *, after_seq: int, upto_seq: int, skip: int,
                        take: int) -> list[int]:
    """Positions of the matching events number skip+1 .. skip+take after `after_seq`."""
    args: list[object] = []
    where = _where(tx, f, args, after_seq=after_seq, upto_seq=upto_seq)
    args += [skip, take]
    rows = await tx.fetch(
        f"SELECT seq FROM audit_events WHERE {where} ORDER BY seq"
        f" OFFSET ${len(args) - 1} LIMIT ${len(args)}", *args)
    return [int(r[0]) for r in rows]


async def open_export_cursor(tx: Tx, f: AuditFilters, *, after_seq: int, upto_seq: int
                             ) -> None:
    """DECLARE the export's server-side cursor over NDJSON lines (bytes, newline included),
    oldest first, for fetch_export().

    A DECLAREd cursor, not a protocol-level portal: PostgreSQL plans DECLARE for a fast start
    (cursor_tuple_fraction), so it streams the partitions' (tenant_id, seq) indexes in order
    (Merge Append); a portal is planned for the whole result, which for a big tenant is a sort
    of every row before the first one comes out (measured: 13 s to the first byte of a
    1M-event export, 20 ms with DECLARE)."""
    args: list[object] = []
    where = _where(tx, f, args, after_seq=after_seq, upto_seq=upto_seq)
    await tx.execute(
        f"DECLARE {_EXPORT_CURSOR} NO SCROLL CURSOR FOR SELECT {_NDJSON_LINE}"
        f" FROM audit_events WHERE {where} ORDER BY seq", *args)


async def fetch_export(tx: Tx, rows: int) -> list[bytes]:
    return [r[0] for r in await tx.fetch(f"FETCH {int(rows)} FROM {_EXPORT_CURSOR}")]


# ---- verification ----

async def first_seq_from(tx: Tx, at: datetime) -> int | None:
    value = await tx.fetchval(
        "SELECT seq FROM audit_events WHERE tenant_id = $1 AND created_at >= $2"
        " ORDER BY seq LIMIT 1", tx.tenant_id, at)
    return int(value) if value is not None else None


async def last_seq_before(tx: Tx, at: datetime) -> int | None:
    value = await tx.fetchval(
        "SELECT seq FROM audit_events WHERE tenant_id = $1 AND created_at < $2"
        " ORDER BY seq DESC LIMIT 1", tx.tenant_id, at)
    return int(value) if value is not None else None


async def hash_at(tx: Tx, seq: int) -> bytes | None:
    value: bytes | None = await tx.fetchval(
        "SELECT hash FROM audit_events WHERE tenant_id = $1 AND seq = $2 LIMIT 1",
        tx.tenant_id, seq)
    return value


def verify_cursor(tx: Tx, *, from_seq: int, to_seq: int) -> CursorFactory:
    """Events from_seq..to_seq with their canonical bytes, for recomputing the chain."""
    return tx.conn.cursor(
        f"SELECT seq, id, created_at, prev_hash, hash, {_CANONICAL} AS canonical"
        " FROM audit_events WHERE tenant_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq",
        tx.tenant_id, from_seq, to_seq)


# ---- retention ----

async def retention_policy(tx: Tx) -> asyncpg.Record:
    row = await tx.fetchrow(
        "SELECT t.plan, t.audit_retention_days AS custom_days,"
        " drift_api.audit_retention_days(t.plan, t.audit_retention_days) AS days,"
        " drift_api.audit_retention_days(t.plan, NULL) AS default_days,"
        " c.retained_seq, c.retained_at"
        " FROM tenants t LEFT JOIN audit_chain c ON c.tenant_id = t.tenant_id"
        " WHERE t.tenant_id = $1", tx.tenant_id)
    if row is None:
        raise RuntimeError("the tenant row is visible inside its own transaction")
    return row


async def lock_tenant_policy(tx: Tx) -> asyncpg.Record:
    row = await tx.fetchrow("SELECT plan, audit_retention_days FROM tenants"
                            " WHERE tenant_id = $1 FOR NO KEY UPDATE", tx.tenant_id)
    return expect_row(row)


async def set_custom_days(tx: Tx, days: int | None, now: datetime) -> None:
    await tx.execute("UPDATE tenants SET audit_retention_days = $2, updated_at = $3"
                     " WHERE tenant_id = $1", tx.tenant_id, days, now)


async def oldest_event_at(tx: Tx) -> datetime | None:
    value: datetime | None = await tx.fetchval(
        "SELECT created_at FROM audit_events WHERE tenant_id = $1 ORDER BY seq LIMIT 1",
        tx.tenant_id)
    return value


async def purge_expired(tx: Tx, *, now: datetime, batch: int) -> asyncpg.Record | None:
    """One batch of the tenant's expired events, through the retention function."""
    return await tx.fetchrow(
        "SELECT deleted, cutoff, through_seq FROM drift_api.audit_retention_purge($1, $2, $3)",
        tx.tenant_id, now, batch)


async def drop_expired_partitions(db: Database, now: datetime
                                  ) -> list[tuple[str, UUID, int]]:
    """(partition, tenant, that tenant's new retention boundary) per dropped partition and
    tenant that had events in it."""
    rows = await db.fetch("SELECT partition_name, tenant_id, through_seq"
                          " FROM drift_api.audit_drop_expired_partitions($1)", now)
    return [(str(r[0]), r[1], int(r[2])) for r in rows]


async def all_tenant_ids(db: Database) -> list[UUID]:
    return [r[0] for r in await db.fetch("SELECT drift_api.all_tenant_ids()")]


# ---- retention notices ----

async def try_lock_notice(tx: Tx) -> bool:
    """One worker at a time decides a tenant's retention notice (for this transaction)."""
    return bool(await tx.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtext('drift.audit_retention_notice'),"
        " hashtext($1::uuid::text))", tx.tenant_id))


async def notice_state(tx: Tx) -> asyncpg.Record | None:
    return await tx.fetchrow(
        "SELECT notified_at, cutoff, purge_from, prior_cutoff, events, retention_days"
        " FROM audit_retention_notices WHERE tenant_id = $1", tx.tenant_id)


async def any_event_between(tx: Tx, since: datetime | None, until: datetime) -> bool:
    """Whether an event was created in [since, until) (the primary key's created_at range)."""
    return bool(await tx.fetchval(
        "SELECT EXISTS (SELECT 1 FROM audit_events WHERE tenant_id = $1"
        " AND created_at >= coalesce($2, '-infinity'::timestamptz) AND created_at < $3)",
        tx.tenant_id, since, until))


async def count_events_between(tx: Tx, since: datetime | None, until: datetime
                               ) -> tuple[int, datetime | None]:
    """How many events were created in [since, until), and the oldest one's time."""
    row = await tx.fetchrow(
        "SELECT count(*) AS n, min(created_at) AS oldest FROM audit_events WHERE tenant_id = $1"
        " AND created_at >= coalesce($2, '-infinity'::timestamptz) AND created_at < $3",
        tx.tenant_id, since, until)
    row = expect_row(row)
    return int(row["n"]), row["oldest"]


async def notice_recipients(tx: Tx) -> list[str]:
    """Email addresses of the tenant's active owner and admins."""
    rows = await tx.fetch(
        "SELECT email FROM users WHERE tenant_id = $1 AND active AND email IS NOT NULL"
        " AND role IN ('owner', 'admin') ORDER BY role DESC, email", tx.tenant_id)
    return [str(r[0]) for r in rows]


async def save_notice(tx: Tx, *, notified_at: datetime, cutoff: datetime,
                      purge_from: datetime, prior_cutoff: datetime | None, events: int,
                      retention_days: int) -> None:
    await tx.execute(
        "INSERT INTO audit_retention_notices AS n (tenant_id, notified_at, cutoff, purge_from,"
        " prior_cutoff, events, retention_days) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (tenant_id) DO UPDATE SET notified_at = EXCLUDED.notified_at,"
        " cutoff = EXCLUDED.cutoff, purge_from = EXCLUDED.purge_from,"
        " prior_cutoff = EXCLUDED.prior_cutoff, events = EXCLUDED.events,"
        " retention_days = EXCLUDED.retention_days",
        tx.tenant_id, notified_at, cutoff, purge_from, prior_cutoff, events, retention_days)


async def oldest_created_at(tx: Tx) -> datetime | None:
    value: datetime | None = await tx.fetchval(
        "SELECT min(created_at) FROM audit_events WHERE tenant_id = $1", tx.tenant_id)
    return value


async def tenant_name(tx: Tx) -> str:
    value = await tx.fetchval("SELECT name FROM tenants WHERE tenant_id = $1", tx.tenant_id)
    return str(value or tx.tenant_id)


# ---- live stream tickets (app/audit/tickets.py) ----

async def prune_stream_tickets(tx: Tx, before: datetime) -> None:
    await tx.execute("DELETE FROM audit_stream_tickets WHERE tenant_id = $1 AND expires_at < $2",
                     tx.tenant_id, before)


async def insert_stream_ticket(tx: Tx, *, ticket_hash: bytes, credential_type: str,
                               credential_id: UUID, user_id: UUID, ip: str | None,
                               expires_at: datetime) -> UUID:
    ticket_id: UUID = await tx.fetchval(
        """INSERT INTO audit_stream_tickets (tenant_id, ticket_hash, credential_type,
               credential_id, user_id, created_ip, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        tx.tenant_id, ticket_hash, credential_type, credential_id, user_id, ip, expires_at)
    return ticket_id


async def use_stream_ticket(tx: Tx, ticket_id: UUID, ticket_hash: bytes, now: datetime,
                            ip: str | None, credential_id: UUID | None
                            ) -> asyncpg.Record | None:
    """Mark the ticket used if it is unused, unexpired and (given `credential_id`) issued to
    that credential: the ticket, whether this statement took it (`taken`), its state before
    (`was_used`, `expired`) and its user's current email and role."""
    return await tx.fetchrow(
        """WITH t AS (
               SELECT id, used_at IS NOT NULL AS was_used, expires_at <= $4 AS expired
                 FROM audit_stream_tickets
                WHERE tenant_id = $1 AND id = $2 AND ticket_hash = $3
                FOR NO KEY UPDATE),
           u AS (
               UPDATE audit_stream_tickets s SET used_at = $4, used_ip = $5
                 FROM t WHERE s.tenant_id = $1 AND s.id = t.id
                  AND NOT t.was_used AND NOT t.expired
                  AND ($6::uuid IS NULL OR s.credential_id = $6)
               RETURNING s.id)
           SELECT s.id, s.credential_type, s.credential_id, s.user_id, t.was_used, t.expired,
                  EXISTS (SELECT 1 FROM u) AS taken, us.email, us.role
             FROM t JOIN audit_stream_tickets s ON s.tenant_id = $1 AND s.id = t.id
             JOIN users us ON us.tenant_id = $1 AND us.id = s.user_id""",
        tx.tenant_id, ticket_id, ticket_hash, now, ip, credential_id)


# ---- SIEM streams (app.audit.siem_service) ----

async def read_for_push(tx: Tx, f: AuditFilters, *, after_seq: int, limit: int
                        ) -> tuple[int, list[asyncpg.Record]]:
    """The newest committed position and up to `limit` matching events after `after_seq`,
    oldest first, from one snapshot: (seq, epoch seconds as text, event JSON bytes)."""
    args: list[object] = [tx.tenant_id]
    where = _where(tx, f, args, after_seq=after_seq)
    args.append(limit)
    rows = await tx.fetch(
        "WITH h AS (SELECT coalesce((SELECT last_seq FROM audit_chain WHERE tenant_id = $1),"
        " 0) AS head),"
        f" p AS (SELECT seq, to_char(extract(epoch FROM created_at), 'FM9999999999990.000000')"
        f" AS ts, {_JSON_BYTES} AS j FROM audit_events WHERE {where}"
        f" ORDER BY seq LIMIT ${len(args)})"
        " SELECT h.head, p.seq, p.ts, p.j FROM h LEFT JOIN p ON true ORDER BY p.seq", *args)
    head = int(rows[0]["head"]) if rows else 0
    return head, [r for r in rows if r["seq"] is not None]
