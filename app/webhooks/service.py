"""Webhook endpoints: registration, changes, secrets, test pings, the deliveries log, retry and
recover. Every mutation is audited in the caller's transaction; nothing here commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from app.core import clock
from app.core.audit_record import record
from app.core.crypto import encrypt
from app.core.errors import BadRequest, Conflict, NotFound
from app.core.events import build_data
from app.core.runtime import Runtime
from app.core.tx import Tx
from app.projects import service as projects
from app.webhooks import alerts, repository, ssrf
from app.webhooks.dispatcher import (
    HEADERS_PURPOSE,
    SECRET_PURPOSE,
    Attempt,
    Sender,
    custom_headers,
    event_body,
    hmac_keys,
    request_headers,
)
from app.webhooks.schemas import WebhookCreate, WebhookUpdate, delivery_out, endpoint_out
from app.webhooks.signing import new_secret

MAX_ENDPOINTS = 100


async def _checked_url(rt: Runtime, url: str) -> str:
    try:
        return await ssrf.validate_url(url, rt.settings.webhook_allowed_cidrs)
    except ssrf.UnsafeUrl as exc:
        raise BadRequest(str(exc), code="invalid_webhook_url") from None


async def _store_secret(rt: Runtime, tx: Tx, endpoint_id: UUID, now: datetime) -> str:
    secret = new_secret()
    await repository.insert_secret(
        tx, endpoint_id, encrypt(rt.secret_key, SECRET_PURPOSE, secret.encode()), now)
    return secret


async def _checked_projects(tx: Tx, ids: list[UUID] | None) -> list[UUID] | None:
    """A project filter may name only this tenant's projects (another tenant's look absent)."""
    for project_id in ids or []:
        try:
            await projects.get_project(tx, project_id)
        except NotFound:
            raise BadRequest(f"No project {project_id} in this tenant; project_ids may name "
                             "only existing projects.", code="unknown_project",
                             project_id=str(project_id)) from None
    return ids


def _sealed_headers(rt: Runtime, headers: dict[str, str] | None
                    ) -> tuple[list[str] | None, bytes | None]:
    """(names in clear, the pairs encrypted) for the endpoint's columns; (None, None): none."""
    if not headers:
        return None, None
    pairs = list(headers.items())
    return [n for n, _ in pairs], encrypt(rt.secret_key, HEADERS_PURPOSE, orjson.dumps(pairs))


def _plain(value: Any) -> Any:
    """A column value as the audit metadata keeps it (arrays as lists, ids as text)."""
    if isinstance(value, list | tuple):
        return [str(v) if isinstance(v, UUID) else v for v in value]
    return value


async def get_endpoint(tx: Tx, endpoint_id: UUID, *, for_update: bool = False
                       ) -> asyncpg.Record:
    row = await repository.get_endpoint(tx, endpoint_id, for_update=for_update)
    if row is None:
        raise NotFound("No webhook endpoint with that id.")
    return row


async def register(rt: Runtime, tx: Tx, body: WebhookCreate) -> dict[str, Any]:
    url = await _checked_url(rt, body.url)
    if await repository.count_endpoints(tx) >= MAX_ENDPOINTS:
        raise Conflict(f"A tenant can register at most {MAX_ENDPOINTS} webhook endpoints; "
                       "delete one first.", code="webhook_limit_reached")
    project_ids = await _checked_projects(tx, body.project_ids)
    header_names, headers_encrypted = _sealed_headers(rt, body.headers)
    now = clock.now()
    row = await repository.insert_endpoint(tx, url=url, description=body.description,
                                           events=list(body.events),
                                           retry_policy=body.retry_policy,
                                           project_ids=project_ids,
                                           min_severity=body.min_severity,
                                           header_names=header_names,
                                           headers_encrypted=headers_encrypted,
                                           rate_limit=body.rate_limit, now=now)
    secret = await _store_secret(rt, tx, row["id"], now)
    await record(tx, "webhook.register", resource_type="webhook", resource_id=row["id"],
                 metadata={"url": url, "events": list(body.events),
                           "description": body.description,
                           "retry_policy": body.retry_policy,
                           "project_ids": [str(p) for p in project_ids or []] or None,
                           "min_severity": body.min_severity,
                           "header_names": header_names, "rate_limit": body.rate_limit})
    return {**endpoint_out(row), "secret": secret}


async def list_endpoints(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                         ) -> tuple[list[asyncpg.Record], int]:
    return await repository.list_endpoints(tx, after=after, limit=limit)


async def update(rt: Runtime, tx: Tx, endpoint_id: UUID, body: WebhookUpdate
                 ) -> asyncpg.Record:
    """Change an endpoint. Re-enabling a failing one announces its recovery (before the audit
    record: docs/audit.md, "Ordering")."""
    fields = body.model_dump(exclude_unset=True)
    for key in ("url", "events", "active", "retry_policy"):  # null means "leave as is" for these
        if key in fields and fields[key] is None:
            del fields[key]
    before = await get_endpoint(tx, endpoint_id, for_update=True)
    if "url" in fields:
        fields["url"] = await _checked_url(rt, fields["url"])
    if fields.get("project_ids") is not None:
        await _checked_projects(tx, fields["project_ids"])
    if "headers" in fields:  # values never reach the audit log: names only
        fields["header_names"], fields["headers_encrypted"] = _sealed_headers(
            rt, fields.pop("headers"))
    now = clock.now()
    old = {k: _plain(before[k]) for k in fields if k != "headers_encrypted"}
    changes: dict[str, Any] = {k: {"from": old[k], "to": _plain(v)} for k, v in fields.items()
                               if k in old and old[k] != _plain(v)}
    if "headers_encrypted" in fields and "header_names" not in changes:
        changes["header_values"] = "replaced"  # same names; values are never logged
    if fields.get("active") is True:
        # re-enabling (or confirming) resets the circuit breaker
        fields.update(consecutive_failures=0, disabled_reason=None, disabled_at=None)
        if not before["active"] and before["failing_since"] is not None:
            fields["failing_since"] = None
            await alerts.endpoint_recovered(
                tx, rt.secret_key, endpoint_id=endpoint_id,
                url=fields.get("url", before["url"]), failing_since=before["failing_since"],
                reason="re_enabled", now=now)
    elif fields.get("active") is False and before["active"]:
        fields.update(disabled_reason="manual", disabled_at=now)
        failed = await repository.fail_pending(tx, endpoint_id, "endpoint disabled by a user",
                                               now)
        if failed:
            changes["pending_deliveries_failed"] = failed
    row = await repository.update_endpoint(tx, endpoint_id, fields, now)
    if row is None:
        raise RuntimeError("expected row is not None")
    await record(tx, "webhook.update", resource_type="webhook", resource_id=endpoint_id,
                 metadata={"changes": changes})
    return row


async def delete(tx: Tx, endpoint_id: UUID) -> None:
    row = await repository.delete_endpoint(tx, endpoint_id)
    if row is None:
        raise NotFound("No webhook endpoint with that id.")
    await record(tx, "webhook.delete", resource_type="webhook", resource_id=endpoint_id,
                 metadata={"url": row["url"], "events": list(row["events"])})


async def rotate_secret(rt: Runtime, tx: Tx, endpoint_id: UUID, grace_period_seconds: int
                        ) -> dict[str, Any]:
    """A new secret; the ones valid now keep signing for the grace period (0: stop now)."""
    await get_endpoint(tx, endpoint_id, for_update=True)
    now = clock.now()
    expires = now + timedelta(seconds=grace_period_seconds)
    await repository.expire_secrets(tx, endpoint_id, expires, now)
    secret = await _store_secret(rt, tx, endpoint_id, now)
    await record(tx, "webhook.rotate_secret", resource_type="webhook", resource_id=endpoint_id,
                 metadata={"grace_period_seconds": grace_period_seconds,
                           "previous_secrets_expire_at": expires.isoformat()})
    return {"secret": secret, "previous_secret_expires_at": expires}


# ---- test ping: read in the request transaction, send outside any, record afterwards ----

@dataclass(frozen=True)
class Ping:
    endpoint_id: UUID
    url: str
    event_id: UUID
    created_at: datetime
    data: dict[str, Any]
    body: bytes
    headers: list[tuple[bytes, bytes]]


async def prepare_ping(rt: Runtime, tx: Tx, endpoint_id: UUID) -> Ping:
    row = await get_endpoint(tx, endpoint_id)
    now = clock.now()
    keys = hmac_keys(rt.secret_key, await repository.valid_secrets(tx, endpoint_id, now))
    event_id = uuid.uuid4()
    data = build_data("ping", endpoint_id=endpoint_id,
                      message="A test event from Drift Cloud: your endpoint is reachable.")
    body = event_body(event_id=event_id, type_="ping", created_at=now, tenant_id=tx.tenant_id,
                      data=data)
    headers = request_headers(keys, event_id=event_id, event_type="ping", attempt=1, body=body)
    headers += custom_headers(rt.secret_key,
                              await repository.endpoint_headers(tx, endpoint_id))
    return Ping(endpoint_id=endpoint_id, url=row["url"], event_id=event_id, created_at=now,
                data=data, body=body, headers=headers)


async def send_ping(rt: Runtime, ping: Ping) -> Attempt:
    async with Sender(rt.settings) as sender:
        return await sender.send(ping.url, ping.headers, ping.body)


async def record_ping(tx: Tx, ping: Ping, attempt: Attempt) -> dict[str, Any]:
    """The ping's event, its (final, never retried) delivery and attempt, and the audit."""
    if await repository.get_endpoint(tx, ping.endpoint_id) is None:
        raise NotFound("The webhook endpoint was deleted during the test.")
    await repository.insert_event_only(tx, event_id=ping.event_id, type_="ping",
                                       created_at=ping.created_at, data=ping.data)
    row = await repository.insert_finished_delivery(
        tx, endpoint_id=ping.endpoint_id, event_id=ping.event_id, event_type="ping",
        status="delivered" if attempt.ok else "failed", status_code=attempt.status_code,
        response_body=attempt.response_body, latency_ms=attempt.latency_ms,
        error=attempt.error, attempted_at=clock.now())
    await record(tx, "webhook.test", resource_type="webhook", resource_id=ping.endpoint_id,
                 outcome="success" if attempt.ok else "failure",
                 metadata={"delivery_id": str(row["id"]), "event_id": str(ping.event_id),
                           "status_code": attempt.status_code, "error": attempt.error})
    return {"success": attempt.ok, "delivery": delivery_out(row)}


# ---- deliveries ----

async def list_deliveries(tx: Tx, endpoint_id: UUID, *, status: str | None,
                          event_type: str | None, before: tuple[datetime, UUID] | None,
                          limit: int) -> tuple[list[asyncpg.Record], int]:
    await get_endpoint(tx, endpoint_id)
    return await repository.list_deliveries(tx, endpoint_id, status=status,
                                            event_type=event_type, before=before, limit=limit)


async def list_events(tx: Tx, endpoint_id: UUID, *, after_seq: int, limit: int
                      ) -> tuple[list[asyncpg.Record], int]:
    """The events the endpoint was sent, ascending by its sequence number, past `after_seq`
    (how a receiver that saw a gap in webhook-sequence fetches what it missed)."""
    await get_endpoint(tx, endpoint_id)
    return await repository.list_events(tx, endpoint_id, after_seq=after_seq, limit=limit)


async def get_delivery(tx: Tx, endpoint_id: UUID, delivery_id: UUID) -> dict[str, Any]:
    await get_endpoint(tx, endpoint_id)
    row = await repository.get_delivery(tx, endpoint_id, delivery_id)
    if row is None:
        raise NotFound("No delivery with that id for this endpoint.")
    attempts = await repository.delivery_attempts(tx, delivery_id)
    return {**delivery_out(row), "attempts": [dict(a) for a in attempts]}


def _require_active(endpoint: asyncpg.Record) -> None:
    if not endpoint["active"]:
        raise Conflict("The endpoint is disabled; re-enable it (PATCH with active: true) "
                       "before re-queuing deliveries.", code="webhook_inactive")


async def retry_delivery(tx: Tx, endpoint_id: UUID, delivery_id: UUID) -> dict[str, Any]:
    endpoint = await get_endpoint(tx, endpoint_id)
    current = await repository.get_delivery(tx, endpoint_id, delivery_id)
    if current is None:
        raise NotFound("No delivery with that id for this endpoint.")
    _require_active(endpoint)
    row = await repository.requeue_delivery(tx, endpoint_id, delivery_id, clock.now())
    if row is None:
        raise Conflict(f"Only failed deliveries can be retried; this one is "
                       f"{current['status']}.", code="delivery_not_failed")
    await record(tx, "webhook.retry", resource_type="webhook", resource_id=endpoint_id,
                 metadata={"delivery_id": str(delivery_id), "event_id": str(row["event_id"]),
                           "event_type": row["event_type"]})
    return delivery_out(row)


async def recover(tx: Tx, endpoint_id: UUID, since: datetime) -> dict[str, Any]:
    endpoint = await get_endpoint(tx, endpoint_id)
    now = clock.now()
    if since > now:
        raise BadRequest("`since` is in the future.", code="invalid_since")
    _require_active(endpoint)
    n = await repository.requeue_failed_since(tx, endpoint_id, since, now)
    await record(tx, "webhook.recover", resource_type="webhook", resource_id=endpoint_id,
                 metadata={"since": since.isoformat(), "requeued": n})
    return {"since": since, "requeued": n}
