"""The retention notice: owner and admins are emailed 7 days before events reach the limit,
once per window, over real SMTP; nothing is deleted before a notice is 7 days old."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from app.audit import retention
from app.core import clock
from app.core.runtime import Runtime
from app.email import sender
from tests.audit.conftest import ndjson, record_events
from tests.conftest import SmtpSink, Tenant, audit_events, runtime_with


def _to(sink: SmtpSink, address: str) -> list[Any]:
    return [m for m in sink.messages if address.lower() in str(m["To"]).lower()]


async def test_notice_once_with_date_count_and_link_then_purge_after_the_window(
        client: httpx.AsyncClient, make_tenant: Any, runtime: Runtime,
        smtp_sink: SmtpSink) -> None:
    rt = runtime_with(runtime, smtp_url=smtp_sink.url,
                      public_url="https://drift.example.com/")
    real_now = clock.now()
    start = real_now - timedelta(days=10)   # the first daily run
    # a free tenant (30 days): created 40 days before the first run
    clock.freeze(start - timedelta(days=40))
    t: Tenant = await make_tenant(plan="free")
    admin = await t.add_user("admin")
    member = await t.add_user("member")
    clock.freeze(start - timedelta(days=25))   # would expire 5 days after the first run
    soon = await record_events(t, 3, action="project.update")
    clock.freeze(start - timedelta(days=12))   # expires 8 days after the real now
    later = await record_events(t, 2, action="project.update")
    clock.freeze(start)
    created = await audit_events(t)

    # 1. the first run: the notice, no deletion
    await retention.run_once(rt)
    await sender.run_once(rt)
    owner_mail = await smtp_sink.wait_for(t.owner.email)
    await smtp_sink.wait_for(admin.email)
    assert not _to(smtp_sink, member.email), "members are not told"
    body = owner_mail.get_content()
    events = len(created)  # everything recorded before the run is within 30 days of going
    assert f"{events:,} audit events" in str(owner_mail["Subject"])
    deletion_day = (start + timedelta(days=7)).date().isoformat()
    assert f"deletion starts on {deletion_day}" in body  # 7 days after the notice, not 5
    assert f"ends by {(start + timedelta(days=30)).date().isoformat()}" in body
    [link] = re.findall(r"https://drift\.example\.com/\S+", body)
    url = urlsplit(link)
    assert url.path == "/api/v1/audit/export"
    assert parse_qs(url.query) == {"before": [start.strftime("%Y-%m-%dT%H:%M:%SZ")]}
    # the link exports exactly the announced events
    r = await client.get(f"{url.path}?{url.query}", headers=t.headers)
    assert r.status_code == 200, r.text
    exported = [e["id"] for e in ndjson(r.content)]
    assert sorted(exported) == sorted(str(e["id"]) for e in created)
    [notice] = await audit_events(t, action="audit.retention_notice")
    assert notice["actor_type"] == "system"
    assert notice["metadata"]["events"] == events
    assert sorted(notice["metadata"]["sent_to"]) == sorted([t.owner.email, admin.email])
    assert {e["id"] for e in await audit_events(t)} >= {e["id"] for e in created}

    # 2. the next daily runs: no second email, and still nothing deleted though the
    # 25-day-old events pass 30 days on day 5 (deletion waits for the notice's 7 days)
    for day in range(1, 7):
        clock.freeze(start + timedelta(days=day))
        await retention.run_once(rt)
        await sender.run_once(rt)
    assert len(_to(smtp_sink, t.owner.email)) == 1
    assert len(await audit_events(t, action="audit.retention_notice")) == 1
    left = {e["id"] for e in await audit_events(t)}
    assert set(soon) <= left

    # 3. after the window (the real now, 10 days after the notice): the purge happens
    clock.reset()
    await retention.run_once(rt)
    await sender.run_once(rt)
    left = {e["id"] for e in await audit_events(t)}
    assert not (set(soon) & left), "expired, announced events were not deleted"
    assert {e["id"] for e in created if e["action"] in ("tenant.create", "apikey.create")} \
        .isdisjoint(left)
    assert set(later) <= left, "events inside the 30 days must stay"
    [purge] = await audit_events(t, action="audit.retention_purge")
    assert purge["metadata"]["deleted"] == len(created) - len(later)
    assert len(_to(smtp_sink, t.owner.email)) == 1


async def test_no_notice_when_nothing_nears_the_limit(make_tenant: Any, runtime: Runtime,
                                                     smtp_sink: SmtpSink) -> None:
    """An enterprise tenant (730 days) with month-old events hears nothing, and loses
    nothing."""
    rt = runtime_with(runtime, smtp_url=smtp_sink.url)
    clock.freeze(clock.now() - timedelta(days=40))
    t: Tenant = await make_tenant(plan="enterprise")
    await record_events(t, 2)
    clock.reset()
    before = await audit_events(t)
    await retention.run_once(rt)
    await sender.run_once(rt)
    assert not _to(smtp_sink, t.owner.email)
    assert not await audit_events(t, action="audit.retention_notice")
    assert len(await audit_events(t)) == len(before)


async def test_a_tenant_without_admins_email_is_still_purged_after_its_notice(
        make_tenant: Any, runtime: Runtime) -> None:
    """The notice is recorded (sent to nobody) and the purge follows 7 days later."""
    clock.freeze(clock.now() - timedelta(days=50))
    t: Tenant = await make_tenant(plan="free")
    await t.sql("UPDATE users SET email = NULL WHERE role = 'owner'")
    old = await record_events(t, 2)
    clock.freeze(clock.now() + timedelta(days=30))  # 20 days ago: the events reach 30 days
    await retention.run_once(runtime)
    [notice] = await audit_events(t, action="audit.retention_notice")
    assert notice["metadata"]["sent_to"] == []
    assert set(old) <= {e["id"] for e in await audit_events(t)}
    clock.reset()
    await retention.run_once(runtime)
    assert not set(old) & {e["id"] for e in await audit_events(t)}
