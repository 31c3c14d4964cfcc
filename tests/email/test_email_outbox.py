"""Queued email goes out over real SMTP after commit, with retries; never inside a request."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.core import clock
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.email import sender
from app.email.service import enqueue
from app.worker import Job, Worker
from tests.conftest import SmtpSink, Tenant, free_port, runtime_with


async def _queue(rt: Runtime, t: Tenant, to: str, body: str = "hello https://x/invitations/abc"
                 ) -> None:
    async with own_tx(rt.db, t.id) as tx:
        await enqueue(tx, rt.secret_key, kind="test", to_address=to, subject="Hi there",
                      body=body)


async def test_sends_over_smtp_and_marks_sent(runtime: Runtime, tenant: Tenant,
                                              smtp_sink: SmtpSink) -> None:
    rt = runtime_with(runtime, smtp_url=smtp_sink.url)
    await _queue(rt, tenant, "dev@example.com")
    # the body is stored encrypted, not as text
    row = (await tenant.sql("SELECT body_encrypted, status FROM email_outbox"))[0]
    assert b"invitations/abc" not in bytes(row["body_encrypted"]) and row["status"] == "pending"
    assert await sender.run_once(rt) == 1
    msg = await smtp_sink.wait_for("dev@example.com")
    assert msg["Subject"] == "Hi there" and "https://x/invitations/abc" in msg.get_content()
    assert (await tenant.sql("SELECT status, attempts FROM email_outbox"))[0][:] == ("sent", 1)
    assert await sender.run_once(rt) == 0  # nothing sent twice


async def test_smtp_failure_is_retried_then_gives_up(runtime: Runtime, tenant: Tenant) -> None:
    dead = f"smtp://127.0.0.1:{free_port()}?starttls=false"  # nothing listens here
    rt = runtime_with(runtime, smtp_url=dead, email_retry_schedule=[60.0])
    await _queue(rt, tenant, "a@example.com")
    assert await sender.run_once(rt) == 1
    row = (await tenant.sql("SELECT status, attempts, last_error, next_attempt_at"
                            " FROM email_outbox"))[0]
    assert row["status"] == "pending" and row["attempts"] == 1 and row["last_error"]
    assert row["next_attempt_at"] > clock.now() + timedelta(seconds=55)
    assert await sender.run_once(rt) == 0  # not due yet
    clock.advance(timedelta(seconds=61))
    assert await sender.run_once(rt) == 1
    row = (await tenant.sql("SELECT status, attempts FROM email_outbox"))[0]
    assert tuple(row) == ("failed", 2)


async def test_without_smtp_the_email_is_logged_and_kept(runtime: Runtime, tenant: Tenant,
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    rt = runtime_with(runtime, smtp_url=None)
    await _queue(rt, tenant, "log@example.com", body="the link is https://x/y")
    with caplog.at_level("INFO", logger="drift.email"):
        assert await sender.run_once(rt) == 1
    assert "log@example.com" in caplog.text and "https://x/y" in caplog.text
    assert (await tenant.sql("SELECT status FROM email_outbox"))[0][0] == "logged"


async def test_worker_wakes_on_notify(runtime: Runtime, tenant: Tenant,
                                      smtp_sink: SmtpSink) -> None:
    """A long poll interval proves it is the NOTIFY, not the timer, that wakes the job."""
    rt = runtime_with(runtime, smtp_url=smtp_sink.url)
    worker = Worker(rt, jobs=[Job("email", sender.run_once, interval=3600.0,
                                  channels=("drift_email",))])
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.5)  # listener connected, first (empty) run done
        await _queue(rt, tenant, "notify@example.com")
        msg = await smtp_sink.wait_for("notify@example.com", timeout=5)
        assert msg["Subject"] == "Hi there"
    finally:
        worker.stop()
        await task


async def test_an_unsendable_message_fails_alone(runtime: Runtime, tenant: Tenant,
                                                 smtp_sink: SmtpSink) -> None:
    """A message that can never be sent (here an attempt to inject a Bcc header through the
    address) fails for good at once, and the next message still goes out."""
    rt = runtime_with(runtime, smtp_url=smtp_sink.url)
    await _queue(rt, tenant, "victim@example.com\nBcc: attacker@example.com")
    await _queue(rt, tenant, "fine@example.com")
    assert await sender.run_once(rt) == 2
    await smtp_sink.wait_for("fine@example.com")
    rows = await tenant.sql("SELECT to_address, status, last_error FROM email_outbox"
                            " ORDER BY created_at")
    assert [(r["to_address"], r["status"]) for r in rows] == [
        ("victim@example.com\nBcc: attacker@example.com", "failed"), ("fine@example.com", "sent")]
    assert not any("attacker" in str(m["To"]) + str(m.get("Bcc")) for m in smtp_sink.messages)
    assert "invalid" in rows[0]["last_error"]


async def test_a_stopping_worker_hands_back_the_messages_it_claimed(
        runtime: Runtime, tenant: Tenant) -> None:
    """The worker is cancelled (SIGTERM) while an SMTP server keeps it waiting: the message it
    claimed goes back at once (lease cleared, the claim's attempt not counted), so another
    worker sends it now instead of after the 2-minute lease."""
    await sender.run_once(runtime_with(runtime, smtp_url=None))  # everything due: logged
    stuck = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stuck.set()  # connected, and never says hello
        await asyncio.sleep(60)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        rt = runtime_with(runtime, smtp_url=f"smtp://127.0.0.1:{port}?starttls=false")
        await _queue(rt, tenant, "late@example.com")
        run = asyncio.create_task(sender.run_once(rt))
        await asyncio.wait_for(stuck.wait(), 10)
        claimed = (await tenant.sql("SELECT locked_until, attempts FROM email_outbox"))[0]
        assert claimed["locked_until"] is not None and claimed["attempts"] == 1
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    finally:
        server.close()
    row = (await tenant.sql("SELECT status, locked_until, attempts FROM email_outbox"))[0]
    assert (row["status"], row["locked_until"], row["attempts"]) == ("pending", None, 0)
