"""Audit log streams to SIEMs: creating, changing, pausing, backfilling and deleting the
destinations the worker pushes the tenant's log to (app.audit.siem_push). Every change is
audited in the caller's transaction; nothing here commits. Tokens, API keys and signing
secrets are stored encrypted (app.core.crypto) and never returned; the https_ndjson signing
secret is shown once, in the creation response."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.audit import repository as audit_repository
from app.audit import siem_repository as repository
from app.audit.filters import AuditFilters, parse_filters
from app.audit.schemas import StreamCreate, StreamFilters, StreamOptions, StreamUpdate
from app.core import clock
from app.core.audit_record import record
from app.core.crypto import encrypt
from app.core.errors import BadRequest, Conflict, NotFound
from app.core.runtime import Runtime
from app.core.tx import Tx
from app.webhooks import ssrf
from app.webhooks.signing import new_secret

MAX_STREAMS = 20
TOKEN_PURPOSE = "audit-stream-token"  # noqa: S105 - an HKDF label, not a secret
_OPTIONS = {"splunk_hec": {"sourcetype", "index", "source", "format"},
            "datadog": {"service", "source", "tags", "format"},
            "https_ndjson": {"format"}}


def stream_filters(stored: dict[str, Any]) -> AuditFilters:
    """The stored filters as the query API parses them."""
    return parse_filters(**{k: v for k, v in stored.items() if k in StreamFilters.model_fields})


def _filters(body: StreamFilters) -> dict[str, str]:
    given = {k: v for k, v in body.model_dump().items() if v is not None}
    parse_filters(**given)  # the query API's checks and messages (400 with its codes)
    return given


def _options(type_: str, body: StreamOptions) -> dict[str, str]:
    given = {k: v for k, v in body.model_dump().items() if v is not None}
    wrong = sorted(set(given) - _OPTIONS[type_])
    if wrong:
        allowed = ", ".join(sorted(_OPTIONS[type_])) or "none"
        raise BadRequest(f"Option(s) {', '.join(wrong)} do not apply to {type_} streams "
                         f"(allowed: {allowed}).", code="option_not_applicable")
    return given


async def _url(rt: Runtime, url: str) -> str:
    try:
        return await ssrf.validate_url(url, rt.settings.webhook_allowed_cidrs)
    except ssrf.UnsafeUrl as exc:
        raise BadRequest(str(exc).replace("Webhook URLs", "Stream URLs")
                         .replace("webhooks are", "audit streams are"),
                         code="invalid_stream_url") from None


def _token(type_: str, token: str | None, *, creating: bool) -> None:
    if type_ == "https_ndjson" and token is not None:
        raise BadRequest("https_ndjson streams take no token: requests are signed with the "
                         "secret returned when the stream is created.",
                         code="token_not_accepted")
    if creating and type_ != "https_ndjson" and token is None:
        what = "HEC token" if type_ == "splunk_hec" else "Datadog API key"
        raise BadRequest(f"A {type_} stream needs `token` (the {what}).", code="token_required")


async def _start(tx: Tx, from_seq: int | None, from_time: datetime | None) -> int | None:
    """The cursor a backfill starts from (events after it are pushed), None if not asked."""
    if from_seq is not None and from_time is not None:
        raise BadRequest("Give from_seq or from_time, not both.", code="invalid_start")
    if from_seq is not None:
        return from_seq - 1
    if from_time is not None:
        first = await audit_repository.first_seq_from(tx, from_time)
        return first - 1 if first is not None else await audit_repository.last_seq(tx)
    return None


async def get_stream(tx: Tx, stream_id: UUID, *, for_update: bool = False) -> asyncpg.Record:
    row = await repository.get_stream(tx, stream_id, for_update=for_update)
    if row is None:
        raise NotFound("No audit stream with that id.", code="audit_stream_not_found")
    return row


async def create(rt: Runtime, tx: Tx, body: StreamCreate) -> dict[str, Any]:
    _token(body.type, body.token, creating=True)
    filters = _filters(body.filters)
    options = _options(body.type, body.options)
    url = await _url(rt, body.url)
    if await repository.count_streams(tx) >= MAX_STREAMS:
        raise Conflict(f"A tenant can have at most {MAX_STREAMS} audit streams; delete one "
                       "first.", code="audit_stream_limit_reached")
    start = await _start(tx, body.from_seq, body.from_time)
    through = start if start is not None else await audit_repository.last_seq(tx)
    secret = new_secret() if body.type == "https_ndjson" else None
    credential = secret if secret is not None else body.token
    if credential is None:
        raise RuntimeError("expected a credential")
    row = await repository.insert_stream(
        tx, name=body.name, type_=body.type, url=url,
        token_encrypted=encrypt(rt.secret_key, TOKEN_PURPOSE, credential.encode()),
        filters=filters, options=options, status=body.status, through_seq=through,
        now=clock.now())
    await record(tx, "audit_stream.create", resource_type="audit_stream",
                 resource_id=row["id"],
                 metadata={"name": body.name, "type": body.type, "url": url,
                           "filters": filters, "options": options, "status": body.status,
                           "delivered_through_seq": through})
    return {"row": row, "signing_secret": secret}


async def list_streams(tx: Tx, *, after: tuple[datetime, UUID] | None, limit: int
                       ) -> tuple[list[asyncpg.Record], int]:
    return await repository.list_streams(tx, after=after, limit=limit)


async def update(rt: Runtime, tx: Tx, stream_id: UUID, body: StreamUpdate) -> asyncpg.Record:
    before = await get_stream(tx, stream_id, for_update=True)
    type_ = before["type"]
    _token(type_, body.token, creating=False)
    fields: dict[str, Any] = {}
    changes: dict[str, Any] = {}
    if body.name is not None:
        fields["name"] = body.name
    if body.url is not None:
        fields["url"] = await _url(rt, body.url)
    if body.filters is not None:
        fields["filters"] = _filters(body.filters)
    if body.options is not None:
        fields["options"] = _options(type_, body.options)
    if body.status is not None:
        fields["status"] = body.status
    for key, value in fields.items():
        if before[key] != value:
            changes[key] = {"from": before[key], "to": value}
    if body.token is not None:
        fields["token_encrypted"] = encrypt(rt.secret_key, TOKEN_PURPOSE, body.token.encode())
        changes["token_replaced"] = True
    start = await _start(tx, body.from_seq, body.from_time)
    if start is not None:
        fields["delivered_through_seq"] = start
        changes["delivered_through_seq"] = {"from": before["delivered_through_seq"],
                                            "to": start}
    now = clock.now()
    if fields:
        # whatever changed, a worker holding the stream must not advance it past the change,
        # and the next push is due now (no leftover back-off)
        fields.update(lease_id=None, locked_until=None, next_attempt_at=now,
                      consecutive_failures=0)
    row = await repository.update_stream(tx, stream_id, fields, now)
    await record(tx, "audit_stream.update", resource_type="audit_stream",
                 resource_id=stream_id, metadata={"changes": changes})
    return row


async def delete(tx: Tx, stream_id: UUID) -> None:
    row = await repository.delete_stream(tx, stream_id)
    if row is None:
        raise NotFound("No audit stream with that id.", code="audit_stream_not_found")
    await record(tx, "audit_stream.delete", resource_type="audit_stream",
                 resource_id=stream_id,
                 metadata={"name": row["name"], "type": row["type"], "url": row["url"],
                           "delivered_through_seq": row["delivered_through_seq"]})
