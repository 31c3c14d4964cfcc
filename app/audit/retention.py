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
"""

from __future__ import annotations

import logging
from typing import Any

from app.audit import repository
from app.audit.service import record
from app.core import clock
from app.core.context import Actor, RequestContext
from app.core.db import Tx
from app.core.errors import BadRequest, PaymentRequired
from app.core.runtime import Runtime

log = logging.getLogger("drift.audit.retention")

MIN_CUSTOM_DAYS = 365
MAX_CUSTOM_DAYS = 3650
PURGE_BATCH = 10_000


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


async def run_once(rt: Runtime) -> int:
    """The daily job. Returns 0: it finishes its backlog itself, batch by batch."""
    now = clock.now()
    ctx = RequestContext(actor=Actor.system())
    dropped = await repository.drop_expired_partitions(rt.db, now)
    for partition, tenant_id, through_seq in dropped:
        async with rt.db.tenant(tenant_id, ctx) as tx:
            await record(tx, "audit.retention_purge", resource_type="tenant",
                         resource_id=tenant_id,
                         metadata={"partition": partition, "through_seq": through_seq})
    if dropped:
        log.info("dropped expired audit partitions: %s", sorted({d[0] for d in dropped}))
    total = 0
    for tenant_id in await repository.all_tenant_ids(rt.db):
        while True:
            async with rt.db.tenant(tenant_id, ctx) as tx:
                row = await repository.purge_expired(tx, now=now, batch=PURGE_BATCH)
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
