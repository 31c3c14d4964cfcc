"""Audit retention: the policy per plan, its settings API and the daily worker job.

Policy (drift_api.audit_retention_days, the single source both the API and the deleting
functions read): free 30 days, pro 365, team 730, enterprise 730 unless the owner sets
`audit_retention_days` (365..3650).

The job (`audit-retention`, daily) only ever deletes through the owner's definer functions:
1. drift_api.audit_drop_expired_partitions drops whole monthly partitions that are past every
   tenant's window (cheap: no row-by-row delete), storing each tenant's new chain boundary;
2. drift_api.audit_retention_purge deletes each tenant's remaining expired events in batches,
   oldest first, each batch in a tenant transaction that also records `audit.retention_purge`.
Both clamp the clock they are given to the database's, so no caller can delete an event that
its tenant's policy still keeps.

Before it deletes, the job tells the tenant (docs/audit.md, "Retention notices"): when events
will reach the limit within 7 days (8, since the job runs daily), the owner and admins get one
email naming the deletion dates, how many events go and an export link for exactly those
events, and `audit.retention_notice` is recorded. The notice covers the next 30 days of
deletions (23 on a 30-day plan: it can only count events that already exist), so a tenant hears
once per window, not daily; audit_retention_notices remembers what was announced. An event is
never deleted before a notice announcing it is 7 days old: a tenant whose first notice comes
later than that (first run after an upgrade) has its deletion delayed until then.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import asyncpg

from app.audit import repository
from app.core import clock
from app.core.audit_record import record
from app.core.context import Actor, RequestContext
from app.core.errors import BadRequest, PaymentRequired
from app.core.runtime import Runtime
from app.core.tx import Tx, own_tx
from app.email.service import enqueue

log = logging.getLogger("drift.audit.retention")

MIN_CUSTOM_DAYS = 365
MAX_CUSTOM_DAYS = 3650
PURGE_BATCH = 10_000
NOTICE_DAYS = timedelta(days=7)          # an event is announced at least this long before
NOTICE_LEAD = NOTICE_DAYS + timedelta(days=1)  # ... and the job runs daily
NOTICE_WINDOW = timedelta(days=30)       # deletions one notice covers
EMAIL_KIND = "audit_retention_notice"


async def get_policy(tx: Tx) -> dict[str, Any]:
    row = await repository.retention_policy(tx)
    return {
        "plan": row["plan"], "days": row["days"], "default_days": row["default_days"],
        "custom_days": row["custom_days"] if row["plan"] == "enterprise" else None,
        "configurable": row["plan"] == "enterprise",
        "min_days": MIN_CUSTOM_DAYS,
        "max_days": MAX_CUSTOM_DAYS,
        "oldest_event_at": await repository.oldest_event_at(tx),
        "retained_through_seq": int(row["retained_seq"] or 0),
        "last_purge_at": row["retained_at"],
    }


async def set_policy(tx: Tx, days: int | None) -> dict[str, Any]:
    """Enterprise owners choose their retention (None: back to the plan default)."""
    current = await repository.lock_tenant_policy(tx)
    if current["plan"] != "enterprise":
        policy = await get_policy(tx)
        raise PaymentRequired(
            f"Custom audit retention is part of the enterprise plan; the {current['plan']} "
            f"plan keeps audit events for {policy['days']} days.",
            code="plan_upgrade_required")
    if days is not None and not MIN_CUSTOM_DAYS <= days <= MAX_CUSTOM_DAYS:
        raise BadRequest(f"`days` must be between {MIN_CUSTOM_DAYS} and {MAX_CUSTOM_DAYS} "
                         "(or null for the plan default).", code="retention_out_of_range",
                         min_days=MIN_CUSTOM_DAYS, max_days=MAX_CUSTOM_DAYS)
    before = current["audit_retention_days"]
    if before != days:
        await repository.set_custom_days(tx, days, clock.now())
    await record(tx, "audit.retention_update", resource_type="tenant",
                 resource_id=tx.tenant_id, metadata={"from_days": before, "to_days": days})
    return await get_policy(tx)


def _utc(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _limit(state: asyncpg.Record | None, now: datetime) -> datetime | None:
    """Events created before this may be deleted now (None: none may be, nothing announced)."""
    if state is None:
        return None
    limit: datetime | None = (state["cutoff"] if now >= state["purge_from"]
                              else state["prior_cutoff"])
    return limit


def export_link(public_url: str, since: datetime | None, until: datetime) -> str:
    """The export of exactly the announced events: after <= created_at < before."""
    params = {"before": _utc(until)}
    if since is not None:
        params = {"after": _utc(since), **params}
    return f"{public_url.rstrip('/')}/api/v1/audit/export?{urlencode(params)}"


def _notice_body(*, tenant: str, days: int, events: int, since: datetime | None,
                 cutoff: datetime, first: datetime, last: datetime, link: str) -> str:
    span = (f"between {_utc(since)} and {_utc(cutoff)}" if since is not None
            else f"before {_utc(cutoff)}")
    return (
        "Hello,\n\n"
        f"{tenant} keeps audit events for {days} days. {events:,} audit events recorded "
        f"{span} reach that limit soon and will be deleted:\n\n"
        f"  deletion starts on {first:%Y-%m-%d} (not before {_utc(first)})\n"
        f"  and ends by {last:%Y-%m-%d}, as each event turns {days} days old.\n\n"
        "To keep a copy, export them before then (an admin's API key, NDJSON, one event per "
        "line; continue with the X-Drift-Next-Cursor header while X-Drift-Has-More is true):"
        f"\n\n  {link}\n\n"
        "You get one such notice per window of deletions. Enterprise owners can change the "
        "retention under PUT /api/v1/settings/audit-retention.\n")


async def _notice(rt: Runtime, tx: Tx, now: datetime) -> datetime | None:
    """Send the tenant's notice if one is due; return the clock to give the deleting functions
    for this tenant (None: it has nothing that could be deleted). A tenant whose events may not
    go yet gets the time that deletes nothing: its oldest event's time plus its retention."""
    policy = await repository.retention_policy(tx)
    if policy["days"] is None:  # unlimited: nothing is ever deleted, nothing to announce
        return None
    days = int(policy["days"])
    keep = timedelta(days=days)
    if not await repository.try_lock_notice(tx):
        # another worker is deciding (and purging) this tenant right now
        return await _nothing_goes(tx, now, keep)
    state = await repository.notice_state(tx)
    horizon = now + NOTICE_LEAD - keep
    since = state["cutoff"] if state is not None else None
    if (since is None or since < horizon) and \
            await repository.any_event_between(tx, since, horizon):
        cutoff = min(now, now + NOTICE_DAYS + NOTICE_WINDOW - keep)
        events, oldest = await repository.count_events_between(tx, since, cutoff)
        purge_from = now + NOTICE_DAYS
        prior = _limit(state, now)
        first = max(purge_from, (oldest or cutoff) + keep)
        last = max(first, cutoff + keep)
        link = export_link(rt.settings.public_url, since, cutoff)
        recipients = await repository.notice_recipients(tx)
        body = _notice_body(tenant=await repository.tenant_name(tx), days=days, events=events,
                            since=since, cutoff=cutoff, first=first, last=last, link=link)
        for address in recipients:
            await enqueue(tx, rt.secret_key, kind=EMAIL_KIND, to_address=address,
                          subject=f"Drift Cloud: {events:,} audit events will be deleted from "
                                  f"{first:%Y-%m-%d}", body=body)
        await repository.save_notice(tx, notified_at=now, cutoff=cutoff, purge_from=purge_from,
                                     prior_cutoff=prior, events=events, retention_days=days)
        await record(tx, "audit.retention_notice", resource_type="tenant",
                     resource_id=tx.tenant_id, metadata={
                         "events": events, "after": since, "before": cutoff,
                         "deletion_starts": first, "deletion_ends": last,
                         "retention_days": days, "sent_to": recipients})
        log.info("audit retention notice: tenant %s, %d events from %s, %d recipients",
                 tx.tenant_id, events, first.date(), len(recipients))
        state = await repository.notice_state(tx)
    if state is None:
        return None  # nothing reaches the limit within NOTICE_LEAD, so nothing is expired
    limit = _limit(state, now)
    if limit is None:
        return await _nothing_goes(tx, now, keep)
    return min(now, limit + keep)


async def _nothing_goes(tx: Tx, now: datetime, keep: timedelta) -> datetime | None:
    oldest = await repository.oldest_created_at(tx)
    return None if oldest is None else min(now, oldest + keep)


async def run_once(rt: Runtime) -> int:
    """The daily job. Returns 0: it finishes its backlog itself, batch by batch."""
    now = clock.now()
    ctx = RequestContext(actor=Actor.system())
    # 1. notices, and what each tenant's notices allow deleting today
    clocks: dict[UUID, datetime | None] = {}
    for tenant_id in await repository.all_tenant_ids(rt.db):
        async with own_tx(rt.db, tenant_id, ctx) as tx:
            clocks[tenant_id] = await _notice(rt, tx, now)
    # 2. whole partitions, only as far as every tenant's notices allow (the function drops a
    # partition only when it ends before every tenant's cutoff at the clock it is given)
    allowed = [c for c in clocks.values() if c is not None]
    dropped = await repository.drop_expired_partitions(rt.db, min([now, *allowed]))
    for partition, tenant_id, through_seq in dropped:
        async with own_tx(rt.db, tenant_id, ctx) as tx:
            await record(tx, "audit.retention_purge", resource_type="tenant",
                         resource_id=tenant_id,
                         metadata={"partition": partition, "through_seq": through_seq})
    if dropped:
        log.info("dropped expired audit partitions: %s", sorted({d[0] for d in dropped}))
    total = 0
    for tenant_id, until in clocks.items():
        if until is None:
            continue
        while True:
            async with own_tx(rt.db, tenant_id, ctx) as tx:
                row = await repository.purge_expired(tx, now=until, batch=PURGE_BATCH)
                deleted = int(row["deleted"]) if row is not None else 0
                if row is not None and deleted:
                    await record(tx, "audit.retention_purge", resource_type="tenant",
                                 resource_id=tenant_id, metadata={
                                     "deleted": deleted, "cutoff": row["cutoff"].isoformat(),
                                     "through_seq": row["through_seq"]})
            total += deleted
            if deleted < PURGE_BATCH:
                break
    if total:
        log.info("audit retention deleted %d expired events", total)
    return 0
