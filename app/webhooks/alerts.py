"""Operational alerts about webhook endpoints: the tenant's owner and admins get an email, and
subscribable events go to the tenant's *other* endpoints, in the transaction that made the
change (docs/webhooks.md, "Operational alerts").

- webhook.endpoint.disabled: the circuit breaker or a 410 Gone turned the endpoint off;
- webhook.delivery.exhausted: a delivery used up its retries (an event each time; an email
  only when the endpoint starts failing, i.e. once per failing episode);
- webhook.endpoint.recovered: a failing endpoint delivered again, or a user re-enabled it.

An alert is never delivered to the endpoint it is about, and no `exhausted` event is emitted
for the delivery of a webhook.* alert, so two failing endpoints cannot feed each other."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from app.core.events import build_data
from app.core.outbox import emit
from app.core.tx import Tx
from app.email.service import enqueue
from app.webhooks import repository

ALERT_PREFIX = "webhook."
EMAIL_KIND = "webhook_alert"


async def _email(tx: Tx, secret_key: str, subject: str, body: str) -> None:
    for address in await repository.alert_recipients(tx):
        await enqueue(tx, secret_key, kind=EMAIL_KIND, to_address=address, subject=subject,
                      body=body)


async def endpoint_disabled(tx: Tx, secret_key: str, row: Any, *, reason: str, detail: str,
                            failed: int, now: datetime) -> None:
    data = build_data("webhook.endpoint.disabled", endpoint_id=row["id"], url=row["url"],
                      reason=reason, detail=detail,
                      consecutive_failures=row["consecutive_failures"],
                      pending_deliveries_failed=failed, disabled_at=now)
    await emit(tx, "webhook.endpoint.disabled", data, exclude_endpoint=row["id"])
    await _email(tx, secret_key, f"Drift Cloud: webhook endpoint disabled ({row['url']})",
                 f"Drift Cloud stopped sending webhooks to {row['url']} "
                 f"(endpoint {row['id']}): {detail}.\n\n"
                 f"{failed} pending deliveries were marked failed. Once the receiver works "
                 f"again, re-enable the endpoint (PATCH /api/v1/webhooks/{row['id']} with "
                 f'{{"active": true}}) and re-queue them with POST '
                 f"/api/v1/webhooks/{row['id']}/recover.\n")


async def deliveries_exhausted(tx: Tx, secret_key: str, rows: list[Any], now: datetime
                               ) -> None:
    """`rows`: deliveries just dead-lettered after their last retry (record_results rows)."""
    rows = [r for r in rows if not str(r["event_type"]).startswith(ALERT_PREFIX)]
    if not rows:
        return
    urls = await repository.endpoint_urls(tx, list({r["endpoint_id"] for r in rows}))
    for r in rows:
        url = urls.get(r["endpoint_id"])
        if url is None:  # deleted meanwhile
            continue
        await emit(tx, "webhook.delivery.exhausted", build_data(
            "webhook.delivery.exhausted", endpoint_id=r["endpoint_id"], url=url,
            delivery_id=r["id"], event_id=r["event_id"], event_type=r["event_type"],
            attempts=r["attempt"], last_status_code=r["status_code"], last_error=r["error"]),
            exclude_endpoint=r["endpoint_id"])
    for endpoint_id in await repository.mark_failing(tx, list(urls), now):
        url = urls[endpoint_id]
        await _email(tx, secret_key, f"Drift Cloud: webhook deliveries failing ({url})",
                     f"A webhook delivery to {url} (endpoint {endpoint_id}) failed its last "
                     f"retry and will not be sent again on its own.\n\n"
                     f"See GET /api/v1/webhooks/{endpoint_id}/deliveries?status=failed; once "
                     f"the receiver works, re-queue them with POST "
                     f"/api/v1/webhooks/{endpoint_id}/recover. You get this email once until "
                     f"the endpoint delivers again.\n")


async def endpoint_recovered(tx: Tx, secret_key: str, *, endpoint_id: UUID, url: str,
                             failing_since: datetime, reason: str, now: datetime) -> None:
    await emit(tx, "webhook.endpoint.recovered", build_data(
        "webhook.endpoint.recovered", endpoint_id=endpoint_id, url=url, reason=reason,
        failing_since=failing_since, recovered_at=now), exclude_endpoint=endpoint_id)
    how = "delivered successfully" if reason == "delivered" else "was re-enabled"
    await _email(tx, secret_key, f"Drift Cloud: webhook endpoint recovered ({url})",
                 f"The webhook endpoint {url} (endpoint {endpoint_id}), failing since "
                 f"{failing_since.isoformat()}, {how} at {now.isoformat()}.\n")
