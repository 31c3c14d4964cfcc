"""The worker job that sends queued email over SMTP (DRIFT_SMTP_URL), with retries.

smtp://user:pass@host:port uses STARTTLS when the server offers it; smtps:// uses implicit
TLS; `?starttls=false` turns STARTTLS off (local test servers). With no SMTP URL the message is
written to the log and kept in the outbox with status `logged`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

import aiosmtplib

from app.core import clock
from app.core.context import Actor, RequestContext
from app.core.metrics import EMAIL_ATTEMPTS
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.email import repository
from app.email.service import body_of

log = logging.getLogger("drift.email")

LEASE = timedelta(seconds=120)


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("DRIFT_SMTP_URL must start with smtp:// or smtps://")
        query = parse_qs(parts.query)
        starttls = query.get("starttls", [""])[0].lower()
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if parts.scheme == "smtps" else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=parts.scheme == "smtps",
            start_tls=(False if starttls in ("false", "0", "no") else
                       True if starttls in ("true", "1", "yes") else None),
        )


def build_message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


class PermanentFailure(Exception):
    """The message can never be sent as it is (e.g. an address SMTP cannot carry)."""


async def send_one(rt: Runtime, email: Any) -> str | None:
    """Send one claimed message; returns None on success or an error string (retried).
    Raises PermanentFailure for a message that no retry can fix."""
    body = body_of(rt.secret_key, email["body_encrypted"])
    settings = rt.settings
    if not settings.smtp_url:
        log.info("email (no DRIFT_SMTP_URL, kept in outbox as 'logged') to=%s subject=%r\n%s",
                 email["to_address"], email["subject"], body)
        return None
    target = SmtpTarget.parse(settings.smtp_url)
    try:
        msg = build_message(settings.smtp_from, email["to_address"], email["subject"], body)
    except (ValueError, TypeError) as exc:
        raise PermanentFailure(f"invalid message: {exc}") from exc
    try:
        await aiosmtplib.send(msg, hostname=target.host, port=target.port,
                              username=target.username, password=target.password,
                              use_tls=target.use_tls, start_tls=target.start_tls,
                              timeout=settings.smtp_timeout)
    except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPSenderRefused) as exc:
        if 500 <= getattr(exc, "code", 0) < 600 or isinstance(exc,
                                                               aiosmtplib.SMTPRecipientsRefused):
            raise PermanentFailure(f"{type(exc).__name__}: {exc}") from exc
        return f"{type(exc).__name__}: {exc}"
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    except ValueError as exc:  # aiosmtplib refuses addresses it cannot put on the wire
        raise PermanentFailure(f"invalid address: {exc}") from exc
    return None


async def run_once(rt: Runtime, *, limit: int = 20) -> int:
    """Send everything due now. Returns the number of messages attempted."""
    now = clock.now()
    done = 0
    ctx = RequestContext(actor=Actor.system())
    for tenant_id in await repository.tenants_with_due_email(rt.db, now):
        async with own_tx(rt.db, tenant_id, ctx) as tx:
            claimed = await repository.claim_due(tx, now, now + LEASE, limit)
        try:
            done += await _send_claimed(rt, ctx, tenant_id, claimed)
        except asyncio.CancelledError:  # the worker is stopping: hand back what is not done
            pending = [e["id"] for e in claimed]
            async with own_tx(rt.db, tenant_id, ctx) as tx:
                handed = await asyncio.shield(repository.hand_back(tx, pending, now + LEASE))
            log.info("email: handed back %d claimed message(s) on shutdown", handed)
            raise
    return done


async def _send_claimed(rt: Runtime, ctx: RequestContext, tenant_id: UUID,
                        claimed: list[Any]) -> int:
    """Send claimed messages; each one finished is dropped from `claimed`, so a cancelled
    run leaves exactly the unfinished ones there."""
    done = 0
    while claimed:
        email = claimed[0]
        # one bad message never stops the others
        permanent: str | None = None
        try:
            error = await send_one(rt, email)
        except PermanentFailure as exc:
            error, permanent = str(exc), str(exc)
        except Exception as exc:
            log.exception("sending email %s failed unexpectedly", email["id"])
            error = f"{type(exc).__name__}: {exc}"
        status = "logged" if not rt.settings.smtp_url else "sent"
        async with own_tx(rt.db, tenant_id, ctx) as tx:
            if error is None:
                await repository.mark_done(tx, email["id"], status, clock.now())
                outcome = status
            elif permanent is not None:
                outcome = "failed"
                log.warning("email %s to %s failed for good: %s", email["id"],
                            email["to_address"], permanent)
                await repository.mark_retry(tx, email["id"], permanent, None)
            else:
                schedule = rt.settings.email_retry_schedule
                attempt = int(email["attempts"])
                nxt = (clock.now() + timedelta(seconds=schedule[attempt - 1])
                       if attempt <= len(schedule) else None)
                outcome = "retry" if nxt is not None else "failed"
                log.warning("email %s to %s failed (attempt %d): %s", email["id"],
                            email["to_address"], attempt, error)
                await repository.mark_retry(tx, email["id"], error, nxt)
        EMAIL_ATTEMPTS.labels(outcome).inc()
        claimed.pop(0)
        done += 1
    return done
