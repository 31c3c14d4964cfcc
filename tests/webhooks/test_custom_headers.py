"""Custom request headers per endpoint: sent with every delivery and ping, never overriding
what Drift sets, stored encrypted, never returned or audited with their values."""

from __future__ import annotations

import httpx
import pytest

from app.core.runtime import Runtime
from tests.conftest import Tenant, audit_events
from tests.webhooks.conftest import Receiver
from tests.webhooks.helpers import deliver, emit_events, register, signed_by

TOKEN = "Bearer gw-7f3c1d9e2b"


async def test_custom_headers_are_sent_encrypted_at_rest_and_never_shown(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver
) -> None:
    hook = receiver.hook()
    ep = await register(client, tenant, hook.url, ["sync.failed"],
                        headers={"Authorization": TOKEN, "X-Team": "payments"})
    assert ep["header_names"] == ["Authorization", "X-Team"]
    assert TOKEN not in str(ep)
    await emit_events(tenant, 1)
    await deliver(runtime, tenant)
    (got,) = await hook.wait_for(1)
    assert got.headers["authorization"] == TOKEN and got.headers["x-team"] == "payments"
    assert signed_by(ep["secret"], got)  # the signature headers are still Drift's
    r = await client.post(f"/api/v1/webhooks/{ep['id']}/test", headers=tenant.headers)
    assert r.json()["success"] is True
    assert hook.requests[1].headers["authorization"] == TOKEN
    # at rest: encrypted; over the API and in the audit log: names only
    (row,) = await tenant.sql("SELECT header_names, headers_encrypted FROM webhook_endpoints")
    assert TOKEN.encode() not in bytes(row["headers_encrypted"])
    url = f"/api/v1/webhooks/{ep['id']}"
    assert TOKEN not in (await client.get(url, headers=tenant.headers)).text
    r = await client.patch(url, headers=tenant.headers, json={"headers": {"X-Team": "core"}})
    assert r.status_code == 200 and r.json()["header_names"] == ["X-Team"]
    for event in await audit_events(tenant, resource_type="webhook"):
        assert TOKEN not in str(event["metadata"]) and "payments" not in str(event["metadata"])
    await emit_events(tenant, 1)
    await deliver(runtime, tenant)
    last = (await hook.wait_for(3))[2]
    assert "authorization" not in last.headers and last.headers["x-team"] == "core"
    r = await client.patch(url, headers=tenant.headers, json={"headers": {}})
    assert r.json()["header_names"] == []


@pytest.mark.parametrize(("headers", "why"), [
    ({"webhook-signature": "v1,forged"}, "cannot be overridden"),
    ({"Webhook-Id": "x"}, "cannot be overridden"),
    ({"Content-Type": "text/plain"}, "cannot be overridden"),
    ({"Host": "evil.example"}, "cannot be overridden"),
    ({"X-Drift-Signature": "x"}, "cannot be overridden"),
    ({"Bad Name": "x"}, "not a valid header name"),
    ({"X-Ok": "line\r\nInjected: 1"}, "without line breaks"),
])
async def test_reserved_or_malformed_headers_are_refused(
        client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver,
        headers: dict[str, str], why: str) -> None:
    r = await client.post("/api/v1/webhooks", headers=tenant.headers, json={
        "url": receiver.hook().url, "events": ["sync.failed"], "headers": headers})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error" and "headers" in r.text
    assert why in r.json()["detail"]
    assert await tenant.sql("SELECT 1 FROM webhook_endpoints") == []
