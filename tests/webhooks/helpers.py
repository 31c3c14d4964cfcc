"""Shared helpers for the webhook and sync tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from functools import cache
from typing import Any

import httpx
import jsonschema_rs

from app.core import clock
from app.core.events import ENVELOPE_SCHEMA, build_data, data_schema
from app.core.outbox import emit_many
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.webhooks import dispatcher
from app.worker import Job, Worker
from tests.conftest import Tenant, runtime_with
from tests.webhooks.conftest import Hook, Received, Receiver

ALL_EVENTS = ["scan.completed", "gate.failed", "violation.new", "grounding.degraded",
              "apikey.expiring", "sync.failed", "project.created", "project.deleted",
              "user.provisioned", "user.reactivated", "user.deprovisioned",
              "user.updated", "member.added", "member.removed", "member.role_changed",
              "team.created", "team.updated", "team.deleted", "team.member.added",
              "team.member.removed", "invitation.created", "invitation.accepted",
              "invitation.revoked", "ip_allowlist.changed",
              "webhook.endpoint.disabled", "webhook.delivery.exhausted",
              "webhook.endpoint.recovered", "ping"]


async def register(client: httpx.AsyncClient, t: Tenant, url: str,
                   events: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/webhooks", headers=t.headers,
                          json={"url": url, "events": events or ALL_EVENTS, **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def subscribed_hook(client: httpx.AsyncClient, t: Tenant, receiver: Receiver,
                          events: list[str]) -> Hook:
    """A new hook on the receiver, registered as `t`'s endpoint for `events`."""
    hook = receiver.hook()
    await register(client, t, hook.url, events)
    return hook


def hand_signatures(secret: str, received: Received) -> tuple[str, str]:
    """The two signatures computed by hand (no project code) for one received request."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    ts = received.headers["x-drift-timestamp"]
    msg_id = received.headers["webhook-id"]
    drift = "sha256=" + hmac.new(key, ts.encode() + b"." + received.body,
                                 hashlib.sha256).hexdigest()
    std = "v1," + base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + received.body,
                                            hashlib.sha256).digest()).decode()
    return drift, std


def signed_by(secret: str, received: Received) -> bool:
    """Both header families carry a signature made with `secret`."""
    drift, std = hand_signatures(secret, received)
    drift_sigs = received.headers["x-drift-signature"].split(",")
    std_sigs = received.headers["webhook-signature"].split(" ")
    in_drift = any(hmac.compare_digest(drift, s) for s in drift_sigs)
    in_std = any(hmac.compare_digest(std, s) for s in std_sigs)
    assert in_drift == in_std, "the two header families disagree"
    return in_drift


@cache
def _validator(type_: str) -> Any:
    return jsonschema_rs.validator_for(data_schema(type_), validate_formats=True)


@cache
def _envelope_validator() -> Any:
    return jsonschema_rs.validator_for(ENVELOPE_SCHEMA, validate_formats=True)


def validate_event(event: dict[str, Any]) -> None:
    """The envelope and its data conform to the published JSON Schemas."""
    _envelope_validator().validate(event)
    _validator(event["type"]).validate(event["data"])


async def deliver(rt: Runtime, *tenants: Tenant, **settings: Any) -> int:
    """One dispatcher run over these tenants only (other tests' data is left alone)."""
    run_rt = runtime_with(rt, **settings) if settings else rt
    return await dispatcher.run_once(run_rt, tenants={t.id for t in tenants})


def notified_worker(rt: Runtime, t: Tenant, interval: float = 3600.0) -> Worker:
    """A worker running the webhooks job over this tenant only, woken by NOTIFY on
    drift_webhooks (and every `interval` seconds: the default leaves the NOTIFY alone)."""
    job = Job("webhooks", lambda r: dispatcher.run_once(r, tenants={t.id}),
              interval=interval, channels=("drift_webhooks",))
    return Worker(rt, jobs=[job])


async def deliveries(t: Tenant, where: str = "true", *args: Any) -> list[Any]:
    return await t.sql(
        "SELECT d.*, (SELECT count(*) FROM webhook_delivery_attempts a"
        "             WHERE a.delivery_id = d.id) AS attempts_logged"
        f" FROM webhook_deliveries d WHERE {where} ORDER BY created_at, id", *args)


async def emit_events(t: Tenant, n: int) -> list[Any]:
    """`n` sync.failed events straight into the outbox (one transaction), fanned out to the
    subscribed endpoints like any other event."""
    items = [build_data("sync.failed", project_id=uuid.uuid4(), error=f"event {i}",
                        retry_count=0, error_code="E_TEST", occurred_at=clock.now())
             for i in range(n)]
    async with own_tx(t.rt.db, t.id) as tx:
        return await emit_many(tx, "sync.failed", items)
