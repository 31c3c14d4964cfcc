"""SQL for webhooks: endpoints, secrets, deliveries, attempts, and the dispatcher's claims."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.core.db import Database
from app.core.keyset import Params, keyset_page
from app.core.sql import expect_row, update_set
from app.core.tx import Tx

ENDPOINT_COLUMNS = ("id, url, description, events, active, consecutive_failures,"
                    " disabled_reason, disabled_at, retry_policy, failing_since, project_ids,"
                    " min_severity, header_names, rate_limit, created_at, updated_at")
DELIVERY_COLUMNS = ("id, endpoint_id, event_id, event_type, status, attempt, status_code,"
                    " response_body, latency_ms, error, last_attempt_at, delivered_at,"
                    " next_attempt_at, created_at, seq")


# ---- endpoints ----

async def count_endpoints(tx: Tx) -> int:
    return int(await tx.fetchval("SELECT count(*) FROM webhook_endpoints"))


async def insert_endpoint(tx: Tx, *, url: str, description: str | None, events: list[str],
                          retry_policy: str, project_ids: list[UUID] | None,
                          min_severity: str | None, header_names: list[str] | None,
                          headers_encrypted: bytes | None, rate_limit: int | None,
                          now: datetime) -> asyncpg.Record:
    # with its sequence counter (app.core.outbox numbers its deliveries from it)
    row = await tx.fetchrow(
        "WITH e AS (INSERT INTO webhook_endpoints (tenant_id, url, description, events,"
        " retry_policy, project_ids, min_severity, header_names, headers_encrypted, rate_limit,"
        " created_at, updated_at) VALUES ($1, $2, $3, $4, $6, $7, $8, $9, $10, $11, $5, $5)"
        f" RETURNING tenant_id, {ENDPOINT_COLUMNS}),"
        " s AS (INSERT INTO webhook_endpoint_sequences (tenant_id, endpoint_id)"
        " SELECT tenant_id, id FROM e)"
        f" SELECT {ENDPOINT_COLUMNS} FROM e",
        tx.tenant_id, url, description, events, now, retry_policy, project_ids, min_severity,
        header_names, headers_encrypted, rate_limit)
    return expect_row(row)


async def endpoint_headers(tx: Tx, endpoint_id: UUID) -> bytes | None:
    value = await tx.fetchval("SELECT headers_encrypted FROM webhook_endpoints WHERE id = $1",
                              endpoint_id)
    return bytes(value) if value is not None else None


async def get_endpoint(tx: Tx, endpoint_id: UUID, *, for_update: bool = False
                       ) -> asyncpg.Record | None:
    lock = " FOR NO KEY UPDATE" if for_update else ""
    return await tx.fetchrow(
        f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1{lock}", endpoint_id)


async def list_endpoints(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                         ) -> tuple[list[asyncpg.Record], int]:
    return await keyset_page(tx, columns=ENDPOINT_COLUMNS, source="webhook_endpoints",
                             after=after, limit=limit)


async def update_endpoint(tx: Tx, endpoint_id: UUID, fields: dict[str, Any], now: datetime
                          ) -> asyncpg.Record | None:
    sets, args = update_set(endpoint_id, now, fields, (
        "url", "description", "events", "active", "consecutive_failures", "disabled_reason",
        "disabled_at", "retry_policy", "failing_since", "project_ids", "min_severity",
        "header_names", "headers_encrypted", "rate_limit"))
    return await tx.fetchrow(
        f"UPDATE webhook_endpoints SET {sets} WHERE id = $1 RETURNING {ENDPOINT_COLUMNS}",
        *args)


async def delete_endpoint(tx: Tx, endpoint_id: UUID) -> asyncpg.Record | None:
    return await tx.fetchrow(
        f"DELETE FROM webhook_endpoints WHERE id = $1 RETURNING {ENDPOINT_COLUMNS}",
        endpoint_id)


async def disable_endpoint(tx: Tx, endpoint_id: UUID, reason: str, now: datetime
                           ) -> asyncpg.Record | None:
    """Turn an active endpoint off (circuit breaker, 410 Gone); None if it already was."""
    return await tx.fetchrow(
        "UPDATE webhook_endpoints SET active = false, disabled_reason = $2, disabled_at = $3,"
        " failing_since = coalesce(failing_since, $3),"
        f" updated_at = $3 WHERE id = $1 AND active RETURNING {ENDPOINT_COLUMNS}",
        endpoint_id, reason, now)


# ---- secrets ----

async def insert_secret(tx: Tx, endpoint_id: UUID, secret_encrypted: bytes, now: datetime
                        ) -> None:
    await tx.execute(
        "INSERT INTO webhook_secrets (tenant_id, endpoint_id, secret_encrypted, created_at)"
        " VALUES ($1, $2, $3, $4)", tx.tenant_id, endpoint_id, secret_encrypted, now)


async def expire_secrets(tx: Tx, endpoint_id: UUID, at: datetime, now: datetime) -> None:
    """Every secret still valid stops being valid at `at` (or earlier, if it already would);
    secrets already expired are deleted."""
    await tx.execute(
        "DELETE FROM webhook_secrets WHERE endpoint_id = $1 AND expires_at <= $2",
        endpoint_id, now)
    await tx.execute(
        "UPDATE webhook_secrets SET expires_at = LEAST(coalesce(expires_at, 'infinity'), $2)"
        " WHERE endpoint_id = $1", endpoint_id, at)


async def valid_secrets(tx: Tx, endpoint_id: UUID, now: datetime) -> list[bytes]:
    """Encrypted secrets valid at `now`, newest first."""
    rows = await tx.fetch(
        "SELECT secret_encrypted FROM webhook_secrets WHERE endpoint_id = $1"
        " AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at DESC, id",
        endpoint_id, now)
    return [bytes(r[0]) for r in rows]


# ---- deliveries: the log, retry and recover ----

async def list_deliveries(tx: Tx, endpoint_id: UUID, *, status: str | None,
                          event_type: str | None, before: tuple[datetime, UUID] | None,
                          limit: int) -> tuple[list[asyncpg.Record], int]:
    """Newest first, keyset-paged on (created_at, id)."""
    params = Params()
    where = [f"endpoint_id = {params.add(endpoint_id)}"]
    if status is not None:
        where.append(f"status = {params.add(status)}")
    if event_type is not None:
        where.append(f"event_type = {params.add(event_type)}")
    return await keyset_page(tx, columns=DELIVERY_COLUMNS, source="webhook_deliveries",
                             params=params, where=where, newest_first=True, after=before,
                             limit=limit)


async def list_events(tx: Tx, endpoint_id: UUID, *, after_seq: int, limit: int
                      ) -> tuple[list[asyncpg.Record], int]:
    """What the endpoint was sent, by sequence number (ascending, past `after_seq`), with the
    event as delivered; the total counts every numbered delivery of the endpoint."""
    params = Params()
    where = [f"d.endpoint_id = {params.add(endpoint_id)}", "d.seq IS NOT NULL"]
    return await keyset_page(
        tx, columns="d.seq, d.id, d.event_id, d.event_type, d.status, d.created_at,"
                    " ev.created_at AS event_created_at, ev.data",
        source="webhook_deliveries d JOIN outbox_events ev"
               " ON ev.tenant_id = d.tenant_id AND ev.id = d.event_id",
        count_source="webhook_deliveries d", params=params, where=where, key=("d.seq",),
        after=(after_seq,), limit=limit)


async def get_delivery(tx: Tx, endpoint_id: UUID, delivery_id: UUID
                       ) -> asyncpg.Record | None:
    return await tx.fetchrow(
        f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 AND id = $2",
        endpoint_id, delivery_id)


async def delivery_attempts(tx: Tx, delivery_id: UUID) -> list[asyncpg.Record]:
    return await tx.fetch(
        "SELECT attempt, attempted_at, status_code, latency_ms, error, response_body"
        " FROM webhook_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt",
        delivery_id)


async def requeue_delivery(tx: Tx, endpoint_id: UUID, delivery_id: UUID, now: datetime
                           ) -> asyncpg.Record | None:
    """A failed delivery becomes due now with a fresh retry schedule; None if not failed."""
    return await tx.fetchrow(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3,"
        " retry_base = attempt, locked_until = NULL, updated_at = $3"
        " WHERE endpoint_id = $1 AND id = $2 AND status = 'failed'"
        f" RETURNING {DELIVERY_COLUMNS}", endpoint_id, delivery_id, now)


async def requeue_failed_since(tx: Tx, endpoint_id: UUID, since: datetime, now: datetime
                               ) -> int:
    status = await tx.execute(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3,"
        " retry_base = attempt, locked_until = NULL, updated_at = $3"
        " WHERE endpoint_id = $1 AND status = 'failed' AND created_at >= $2",
        endpoint_id, since, now)
    return int(status.split()[-1])


async def fail_pending(tx: Tx, endpoint_id: UUID, error: str, now: datetime) -> int:
    """Pending deliveries of an endpoint that was just disabled become failed (recoverable
    with POST .../recover once it is re-enabled)."""
    status = await tx.execute(
        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL,"
        " locked_until = NULL, error = $2, updated_at = $3"
        " WHERE endpoint_id = $1 AND status = 'pending'", endpoint_id, error, now)
    return int(status.split()[-1])


# ---- test pings: recorded after the synchronous send ----

async def insert_event_only(tx: Tx, *, event_id: UUID, type_: str, created_at: datetime,
                            data: dict[str, Any]) -> None:
    """An event that is not fanned out (a test ping goes to one endpoint only)."""
    await tx.execute(
        "INSERT INTO outbox_events (tenant_id, id, type, created_at, data)"
        " VALUES ($1, $2, $3, $4, $5)", tx.tenant_id, event_id, type_, created_at, data)


async def insert_finished_delivery(tx: Tx, *, endpoint_id: UUID, event_id: UUID,
                                   event_type: str, status: str, status_code: int | None,
                                   response_body: str | None, latency_ms: int,
                                   error: str | None, attempted_at: datetime
                                   ) -> asyncpg.Record:
    row = await tx.fetchrow(
        "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, status,"
        " attempt, status_code, response_body, latency_ms, error, last_attempt_at,"
        " delivered_at, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10,"
        " CASE WHEN $5::text = 'delivered' THEN $10::timestamptz END, $10, $10)"
        f" RETURNING {DELIVERY_COLUMNS}",
        tx.tenant_id, endpoint_id, event_id, event_type, status, status_code, response_body,
        latency_ms, error, attempted_at)
    row = expect_row(row)
    await tx.execute(
        "INSERT INTO webhook_delivery_attempts (tenant_id, delivery_id, attempt, attempted_at,"
        " status_code, latency_ms, error, response_body) VALUES ($1, $2, 1, $3, $4, $5, $6, $7)",
        tx.tenant_id, row["id"], attempted_at, status_code, latency_ms, error, response_body)
    return row


# ---- the dispatcher ----

async def tenants_with_due_webhooks(db: Database, now: datetime) -> list[UUID]:
    return [r[0] for r in await db.fetch("SELECT drift_api.tenants_with_due_webhooks($1)", now)]


# Rate-limited endpoints (rate_limit deliveries/s) first reserve what this claim may send: k =
# min(rate, free slots, due rows), and next_send_at moves k/rate seconds on. The UPDATE takes
# the endpoint's row lock and re-checks next_send_at after a concurrent reservation commits,
# so two workers never reserve the same time: across workers the rate holds, with bursts of
# at most one second's worth. Endpoints without a limit are not touched.
_CLAIM = """
WITH reserved AS (
    UPDATE webhook_endpoints e
       SET next_send_at = GREATEST(coalesce(e.next_send_at, $1), $1)
                          + make_interval(secs => r.k::float8 / e.rate_limit)
      FROM (SELECT e2.id, LEAST(e2.rate_limit, coalesce(b.slots, $5), (
                       SELECT count(*) FROM (
                           SELECT 1 FROM webhook_deliveries d
                            WHERE d.endpoint_id = e2.id AND d.status = 'pending'
                              AND d.next_attempt_at <= $1
                              AND (d.locked_until IS NULL OR d.locked_until <= $1)
                            LIMIT e2.rate_limit) due)) AS k
              FROM webhook_endpoints e2
              LEFT JOIN unnest($3::uuid[], $4::int[]) AS b(endpoint_id, slots)
                ON b.endpoint_id = e2.id
             WHERE e2.active AND e2.rate_limit IS NOT NULL
               AND (e2.next_send_at IS NULL OR e2.next_send_at <= $1)) r
     WHERE e.id = r.id AND r.k > 0 AND (e.next_send_at IS NULL OR e.next_send_at <= $1)
    RETURNING e.id, r.k
), picked AS (
    SELECT x.id
      FROM (SELECT e.id, CASE WHEN e.rate_limit IS NULL THEN coalesce(b.slots, $5)
                              ELSE coalesce(rv.k, 0) END AS slots
              FROM webhook_endpoints e
              LEFT JOIN unnest($3::uuid[], $4::int[]) AS b(endpoint_id, slots)
                ON b.endpoint_id = e.id
              LEFT JOIN reserved rv ON rv.id = e.id
             WHERE e.active AND CASE WHEN e.rate_limit IS NULL THEN coalesce(b.slots, $5)
                                     ELSE coalesce(rv.k, 0) END > 0
             ORDER BY random()) ep
     CROSS JOIN LATERAL (
            SELECT d.id FROM webhook_deliveries d
             WHERE d.endpoint_id = ep.id AND d.status = 'pending' AND d.next_attempt_at <= $1
               AND (d.locked_until IS NULL OR d.locked_until <= $1)
             ORDER BY d.next_attempt_at
             LIMIT ep.slots
             FOR UPDATE OF d SKIP LOCKED) x
     LIMIT $6
), claimed AS (
    UPDATE webhook_deliveries d
       SET attempt = d.attempt + 1, locked_until = $2, last_attempt_at = $1, updated_at = $1
     WHERE d.id = ANY (ARRAY(SELECT id FROM picked))
    RETURNING d.id, d.endpoint_id, d.event_id, d.event_type, d.attempt, d.retry_base, d.seq
)
SELECT c.id, c.endpoint_id, c.event_id, c.event_type, c.attempt, c.retry_base, c.seq,
       ev.created_at AS event_created_at, ev.data, ev.traceparent, e.url, e.retry_policy,
       e.headers_encrypted,
       (SELECT array_agg(s.secret_encrypted ORDER BY s.created_at DESC, s.id)
          FROM webhook_secrets s
         WHERE s.endpoint_id = c.endpoint_id
           AND (s.expires_at IS NULL OR s.expires_at > $1)) AS secrets
  FROM claimed c
  JOIN outbox_events ev ON ev.id = c.event_id
  JOIN webhook_endpoints e ON e.id = c.endpoint_id
"""


async def claim_due(tx: Tx, *, now: datetime, lease_until: datetime,
                    busy: dict[UUID, int], per_endpoint: int, limit: int
                    ) -> list[asyncpg.Record]:
    """Take up to `limit` due deliveries of active endpoints, at most `busy[endpoint]` free
    slots per endpoint (`per_endpoint` for endpoints not in `busy`). FOR UPDATE SKIP LOCKED:
    two workers never take the same row; the lease (locked_until) keeps it theirs after the
    claim commits, and returns it to the queue if the worker dies."""
    ids = list(busy)
    return await tx.fetch(_CLAIM, now, lease_until, ids, [busy[i] for i in ids],
                          per_endpoint, limit)


async def record_results(tx: Tx, results: Sequence[dict[str, Any]]) -> list[asyncpg.Record]:
    """Apply attempt results (only to the claim that made them: same attempt number, still
    pending) and log every attempt. An interrupted attempt (the worker stopped) does not use
    up a retry. Returns the deliveries that were updated."""
    cols = ("id", "attempt", "status", "status_code", "response_body", "latency_ms", "error",
            "attempted_at", "next_attempt_at")
    arrays = [[r[c] for r in results] for c in cols]
    updated = await tx.fetch(
        "UPDATE webhook_deliveries d SET status = r.status, status_code = r.status_code,"
        " response_body = r.response_body, latency_ms = r.latency_ms, error = r.error,"
        " delivered_at = CASE WHEN r.status = 'delivered' THEN r.attempted_at"
        "                     ELSE d.delivered_at END,"
        " next_attempt_at = r.next_attempt_at, locked_until = NULL, updated_at = r.attempted_at,"
        " retry_base = d.retry_base + CASE WHEN r.interrupted THEN 1 ELSE 0 END"
        " FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[], $5::text[], $6::int[],"
        "             $7::text[], $8::timestamptz[], $9::timestamptz[], $10::bool[])"
        "   AS r(id, attempt, status, status_code, response_body, latency_ms, error,"
        "        attempted_at, next_attempt_at, interrupted)"
        " WHERE d.id = ANY ($1::uuid[]) AND d.id = r.id AND d.attempt = r.attempt"
        "   AND d.status = 'pending'"
        " RETURNING d.id, d.endpoint_id, d.status, d.event_id, d.event_type, d.attempt,"
        " d.status_code, d.error", *arrays,
        [bool(r.get("interrupted")) for r in results])
    # The log keeps every attempt that was made, including one whose claim had expired;
    # KEY SHARE keeps a concurrently deleted endpoint from breaking the foreign key.
    await tx.execute(
        "WITH live AS (SELECT id FROM webhook_deliveries WHERE id = ANY ($1::uuid[])"
        "              FOR KEY SHARE)"
        " INSERT INTO webhook_delivery_attempts (tenant_id, delivery_id, attempt, attempted_at,"
        " status_code, latency_ms, error, response_body)"
        " SELECT $10, r.id, r.attempt, r.attempted_at, r.status_code, r.latency_ms, r.error,"
        "        r.response_body"
        " FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[], $5::text[], $6::int[],"
        "             $7::text[], $8::timestamptz[], $9::timestamptz[])"
        "   AS r(id, attempt, status, status_code, response_body, latency_ms, error,"
        "        attempted_at, next_attempt_at)"
        " JOIN live ON live.id = r.id"
        " ON CONFLICT DO NOTHING", *arrays, tx.tenant_id)
    return updated


async def count_failures(tx: Tx, changes: dict[UUID, tuple[bool, int]]
                         ) -> list[asyncpg.Record]:
    """Circuit-breaker bookkeeping: per endpoint (reset?, failed deliveries to add after the
    reset). A reset (a delivery succeeded) also ends the endpoint's failing state. Returns the
    endpoints that changed, with `was_failing_since` (the failing state before, from the
    self-join's snapshot) so that the caller can announce the recovery."""
    ids = list(changes)
    return await tx.fetch(
        "UPDATE webhook_endpoints e SET consecutive_failures = CASE WHEN u.reset THEN u.n"
        "       ELSE e.consecutive_failures + u.n END,"
        " failing_since = CASE WHEN u.reset THEN NULL ELSE e.failing_since END"
        " FROM unnest($1::uuid[], $2::bool[], $3::int[]) AS u(id, reset, n),"
        "      webhook_endpoints o"
        " WHERE e.id = u.id AND o.tenant_id = e.tenant_id AND o.id = e.id"
        "   AND (u.n > 0 OR e.consecutive_failures <> 0"
        "        OR (u.reset AND e.failing_since IS NOT NULL))"
        " RETURNING e.id, e.url, e.consecutive_failures, e.active,"
        "           o.failing_since AS was_failing_since",
        ids, [changes[i][0] for i in ids], [changes[i][1] for i in ids])


async def mark_failing(tx: Tx, endpoint_ids: Sequence[UUID], now: datetime) -> list[UUID]:
    """Endpoints that start failing now (a delivery exhausted its retries); the ones already
    failing are left as they are. Returns those that changed."""
    rows = await tx.fetch(
        "UPDATE webhook_endpoints SET failing_since = $2"
        " WHERE id = ANY ($1::uuid[]) AND failing_since IS NULL RETURNING id",
        list(endpoint_ids), now)
    return [r[0] for r in rows]


async def endpoint_urls(tx: Tx, endpoint_ids: Sequence[UUID]) -> dict[UUID, str]:
    rows = await tx.fetch("SELECT id, url FROM webhook_endpoints WHERE id = ANY ($1::uuid[])",
                          list(endpoint_ids))
    return {r[0]: r[1] for r in rows}


async def alert_recipients(tx: Tx) -> list[str]:
    """Email addresses of the tenant's active owner and admins."""
    rows = await tx.fetch(
        "SELECT email FROM users WHERE tenant_id = $1 AND active AND email IS NOT NULL"
        " AND role IN ('owner', 'admin') ORDER BY role DESC, email", tx.tenant_id)
    return [str(r[0]) for r in rows]


# ---- apikey.expiring ----

async def tenants_with_expiring_api_keys(db: Database, now: datetime, until: datetime
                                         ) -> list[UUID]:
    return [r[0] for r in await db.fetch(
        "SELECT drift_api.tenants_with_expiring_api_keys($1, $2)", now, until)]


async def take_expiring_api_keys(tx: Tx, now: datetime, until: datetime
                                 ) -> list[asyncpg.Record]:
    """Mark live keys expiring in (now, until] as announced and return them (each key once,
    even with several workers: the row lock makes the second UPDATE skip it)."""
    return await tx.fetch(
        "UPDATE api_keys k SET expiry_notified_at = $1"
        " WHERE k.expires_at IS NOT NULL AND k.revoked_at IS NULL"
        " AND k.expiry_notified_at IS NULL AND k.expires_at > $1 AND k.expires_at <= $2"
        " RETURNING k.id, k.name, k.prefix, k.user_id, k.expires_at,"
        " (SELECT u.email FROM users u WHERE u.id = k.user_id) AS user_email", now, until)
