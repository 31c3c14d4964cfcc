"""Endpoints API: registration round trip, secrets at rest, URL rules (SSRF), roles, audit,
tenant isolation, and the event catalog."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import jsonschema_rs
import pytest

from app.core.events import EVENT_TYPES
from app.core.runtime import Runtime
from tests.conftest import Tenant, app_with, asgi_client, assert_problem, audit_events
from tests.webhooks.conftest import Receiver
from tests.webhooks.helpers import ALL_EVENTS, register


async def test_registration_round_trip(client: httpx.AsyncClient, tenant: Tenant,
                                       receiver: Receiver) -> None:
    hook = receiver.hook()
    r = await client.post("/api/v1/webhooks", headers=tenant.headers, json={
        "url": hook.url, "events": ["scan.completed", "gate.failed", "scan.completed"],
        "description": "CI notifications"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"/api/v1/webhooks/{created['id']}"
    assert created["url"] == hook.url and created["active"] is True
    assert created["events"] == ["scan.completed", "gate.failed"]  # de-duplicated, in order
    assert created["description"] == "CI notifications"
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 32

    # the secret is shown once: never in reads, and encrypted at rest
    got = await client.get(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers)
    assert got.status_code == 200
    assert "secret" not in got.json()
    assert got.json() == {k: v for k, v in created.items() if k != "secret"}
    listed = await client.get("/api/v1/webhooks", headers=tenant.headers)
    assert listed.json()["pagination"]["total"] == 1
    assert [w["id"] for w in listed.json()["data"]] == [created["id"]]
    assert secret not in listed.text
    stored = await tenant.sql("SELECT secret_encrypted FROM webhook_secrets")
    assert len(stored) == 1
    raw = bytes(stored[0]["secret_encrypted"])
    assert secret.encode() not in raw and base64.b64decode(secret[6:]) not in raw

    patched = await client.patch(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers,
                                 json={"events": ["violation.new"], "description": None})
    assert patched.status_code == 200, patched.text
    assert patched.json()["events"] == ["violation.new"]
    assert patched.json()["description"] is None and patched.json()["url"] == hook.url

    deleted = await client.delete(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers)
    assert deleted.status_code == 204
    assert_problem(await client.get(f"/api/v1/webhooks/{created['id']}",
                             headers=tenant.headers), 404, "not_found")
    assert await tenant.sql("SELECT 1 FROM webhook_secrets") == []

    events = await audit_events(tenant, resource_type="webhook")
    assert [e["action"] for e in events] == ["webhook.register", "webhook.update",
                                             "webhook.delete"]
    assert all(e["resource_id"] == created["id"] for e in events)
    assert events[1]["metadata"]["changes"]["events"] == {
        "from": ["scan.completed", "gate.failed"], "to": ["violation.new"]}
    assert all(secret not in str(e["metadata"]) for e in events)


async def test_list_is_paged(client: httpx.AsyncClient, tenant: Tenant,
                             receiver: Receiver) -> None:
    ids = [(await register(client, tenant, receiver.hook().url))["id"] for _ in range(3)]
    first = (await client.get("/api/v1/webhooks?limit=2", headers=tenant.headers)).json()
    assert [w["id"] for w in first["data"]] == ids[:2]
    assert first["pagination"] == {"cursor": first["pagination"]["cursor"], "has_more": True,
                                   "total": 3}
    second = (await client.get(f"/api/v1/webhooks?limit=2&cursor="
                               f"{first['pagination']['cursor']}",
                               headers=tenant.headers)).json()
    assert [w["id"] for w in second["data"]] == ids[2:]
    assert second["pagination"]["has_more"] is False


async def _register_ping(c: httpx.AsyncClient, t: Tenant, url: str) -> httpx.Response:
    """Try to register `url` as an endpoint for ping events."""
    return await c.post("/api/v1/webhooks", headers=t.headers,
                        json={"url": url, "events": ["ping"]})


@pytest.mark.parametrize(("url", "reason"), [
    ("http://hooks.example.com/x", "must use https"),
    ("https://localhost/hook", "loopback name"),
    ("https://api.localhost/hook", "loopback name"),
    ("https://127.0.0.1/hook", "loopback"),
    ("https://10.1.2.3/hook", "private address (RFC 1918)"),
    ("https://192.168.1.10:8443/hook", "private address (RFC 1918)"),
    ("https://172.16.5.4/hook", "private address (RFC 1918)"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://[::1]/hook", "loopback"),
    ("https://[fe80::1]/hook", "link-local"),
    ("https://[fd12:3456::1]/hook", "unique-local"),
    ("https://[::ffff:10.0.0.1]/hook", "IPv4-mapped"),
    ("https://[::ffff:8.8.8.8]/hook", "IPv4-mapped"),
    ("https://[64:ff9b::a00:1]/hook", "embeds an IPv4"),
    ("https://100.64.0.1/hook", "carrier-grade NAT"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("https://240.0.0.1/hook", "reserved"),
    ("https://224.0.0.251/hook", "multicast"),
    ("https://2130706433/hook", "loopback"),  # 127.0.0.1 as one decimal number
    ("https://internal.corp.example/hook", "resolves to 10.20.30.40"),
    ("https://mixed.example/hook", "resolves to 192.168.0.9"),  # one bad address is enough
    ("https://nowhere.example/hook", "could not be resolved"),
    ("https://user:pw@hooks.example.com/x", "user name or password"),
    ("ftp://hooks.example.com/x", "must use https"),
    ("not a url", "must be ASCII without spaces"),
    ("https://hooks.example.com/a b", "must be ASCII without spaces"),
    ("https://bücher.example/hook", "punycode"),
    ("https://hooks.example.com/\r\nX-Injected: 1", "control characters"),
])
async def test_url_rules(runtime: Runtime, tenant: Tenant, fake_dns: dict[str, list[str]],
                         url: str, reason: str) -> None:
    fake_dns.update({"internal.corp.example": ["10.20.30.40"],
                     "mixed.example": ["93.184.216.34", "192.168.0.9"],
                     "2130706433": ["127.0.0.1"],
                     "hooks.example.com": ["93.184.216.34"]})
    strict = app_with(runtime, webhook_allowed_cidrs="")  # no exemptions, as in production
    async with asgi_client(strict) as c:
        r = await _register_ping(c, tenant, url)
    assert r.status_code == 400, (url, r.text)
    problem = r.json()
    assert problem["code"] == "invalid_webhook_url"
    assert reason in problem["detail"], problem["detail"]
    assert await tenant.sql("SELECT 1 FROM webhook_endpoints") == []


@pytest.mark.parametrize(("allowed_cidrs", "dns", "urls"), [
    # no exemptions, as in production: public https URLs (a name, IPv4 with a port, IPv6)
    ("", {"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"]},
     ("https://hooks.example.com/drift?x=1", "https://93.184.216.34:8443/h",
      "https://[2606:4700:4700::1111]/h")),
    # an allowed network is exempt from the address rules and may use http
    ("10.9.0.0/16", {"ci.internal": ["10.9.0.5"]},
     ("http://10.9.1.2:8080/hook", "http://ci.internal/hook", "https://ci.internal/hook")),
], ids=["public_https", "allowed_cidrs"])
async def test_urls_are_accepted(runtime: Runtime, tenant: Tenant,
                                 fake_dns: dict[str, list[str]], allowed_cidrs: str,
                                 dns: dict[str, list[str]], urls: tuple[str, ...]) -> None:
    fake_dns.update(dns)
    async with asgi_client(app_with(runtime, webhook_allowed_cidrs=allowed_cidrs)) as c:
        for url in urls:
            r = await _register_ping(c, tenant, url)
            assert r.status_code == 201, (url, r.text)


async def test_allowed_cidrs_exempt_only_their_networks(
        runtime: Runtime, tenant: Tenant, fake_dns: dict[str, list[str]]) -> None:
    fake_dns.update({"other.internal": ["10.8.0.5"]})
    dev = app_with(runtime, webhook_allowed_cidrs="10.9.0.0/16")
    async with asgi_client(dev) as c:
        for url, reason in (("http://other.internal/hook", "must use https"),
                            ("https://10.8.0.5/hook", "private")):
            r = await _register_ping(c, tenant, url)
            assert r.status_code == 400 and reason in r.json()["detail"], r.text


async def test_patch_revalidates_the_url(runtime: Runtime, tenant: Tenant,
                                         fake_dns: dict[str, list[str]]) -> None:
    fake_dns.update({"hooks.example.com": ["93.184.216.34"]})
    strict = app_with(runtime, webhook_allowed_cidrs="")
    async with asgi_client(strict) as c:
        hook = (await c.post("/api/v1/webhooks", headers=tenant.headers, json={
            "url": "https://hooks.example.com/a", "events": ["ping"]})).json()
        r = await c.patch(f"/api/v1/webhooks/{hook['id']}", headers=tenant.headers,
                          json={"url": "https://169.254.169.254/"})
        assert r.status_code == 400 and r.json()["code"] == "invalid_webhook_url"
        got = await c.get(f"/api/v1/webhooks/{hook['id']}", headers=tenant.headers)
        assert got.json()["url"] == "https://hooks.example.com/a"


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "https://a.example", "events": []}, "events"),
    ({"url": "https://a.example", "events": ["nope.never"]}, "events.0"),
    ({"url": "https://a.example"}, "events"),
    ({"events": ["ping"]}, "url"),
    ({"url": "https://a.example", "events": ["ping"], "description": "x" * 501},
     "description"),
    ({"url": "https://a.example", "events": ["ping"], "secret": "mine"}, "secret"),
])
async def test_bad_bodies_are_422_naming_the_field(client: httpx.AsyncClient, tenant: Tenant,
                                                   body: dict[str, Any], field: str) -> None:
    r = await client.post("/api/v1/webhooks", headers=tenant.headers, json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]


async def test_endpoints_api_is_admin_only(client: httpx.AsyncClient, tenant: Tenant,
                                           receiver: Receiver) -> None:
    hook = await register(client, tenant, receiver.hook().url)
    for role in ("member", "viewer"):
        user = await tenant.add_user(role)
        for method, url, kw in [
                ("POST", "/api/v1/webhooks", {"json": {"url": hook["url"], "events": ["ping"]}}),
                ("GET", "/api/v1/webhooks", {}),
                ("GET", f"/api/v1/webhooks/{hook['id']}", {}),
                ("PATCH", f"/api/v1/webhooks/{hook['id']}", {"json": {"active": False}}),
                ("DELETE", f"/api/v1/webhooks/{hook['id']}", {}),
                ("POST", f"/api/v1/webhooks/{hook['id']}/rotate-secret", {}),
                ("POST", f"/api/v1/webhooks/{hook['id']}/test", {}),
                ("GET", f"/api/v1/webhooks/{hook['id']}/deliveries", {}),
                ("GET", f"/api/v1/webhooks/{hook['id']}/events", {})]:
            r = await client.request(method, url, headers=user.headers, **kw)
            assert r.status_code == 403, (role, method, url, r.text)
            assert r.json()["code"] == "insufficient_role"
    admin = await tenant.add_user("admin")
    assert (await client.get("/api/v1/webhooks", headers=admin.headers)).status_code == 200
    # the catalog is documentation: any member of the tenant may read it
    viewer = await tenant.add_user("viewer")
    assert (await client.get("/api/v1/webhooks/event-types",
                             headers=viewer.headers)).status_code == 200
    assert len(await tenant.sql("SELECT 1 FROM webhook_endpoints WHERE active")) == 1


async def test_another_tenant_cannot_read_or_change_webhooks(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant,
        receiver: Receiver) -> None:
    hook = await register(client, tenant, receiver.hook().url)
    base = f"/api/v1/webhooks/{hook['id']}"
    some_delivery = uuid.uuid4()
    for method, url, kw in [
            ("GET", base, {}), ("PATCH", base, {"json": {"url": receiver.hook().url}}),
            ("DELETE", base, {}), ("POST", f"{base}/test", {}),
            ("POST", f"{base}/rotate-secret", {"json": {"grace_period_seconds": 0}}),
            ("GET", f"{base}/deliveries", {}),
            ("GET", f"{base}/deliveries/{some_delivery}", {}),
            ("POST", f"{base}/deliveries/{some_delivery}/retry", {}),
            ("POST", f"{base}/recover", {"json": {"since": "2020-01-01T00:00:00Z"}})]:
        r = await client.request(method, url, headers=other_tenant.headers, **kw)
        assert_problem(r, 404, "not_found", context=(method, url, r.text))
    listed = await client.get("/api/v1/webhooks", headers=other_tenant.headers)
    assert listed.json()["data"] == [] and listed.json()["pagination"]["total"] == 0
    # nothing changed for the owner
    got = await client.get(base, headers=tenant.headers)
    assert got.status_code == 200 and got.json()["url"] == hook["url"]
    assert len(await tenant.sql("SELECT 1 FROM webhook_secrets")) == 1
    assert await audit_events(other_tenant, resource_type="webhook") == []


async def test_event_catalog_lists_every_type_with_a_schema(client: httpx.AsyncClient,
                                                            tenant: Tenant) -> None:
    r = await client.get("/api/v1/webhooks/event-types", headers=tenant.headers)
    assert r.status_code == 200
    body = r.json()
    assert [t["type"] for t in body["data"]] == ALL_EVENTS == list(EVENT_TYPES)
    assert body["pagination"]["total"] == len(ALL_EVENTS)
    for item in body["data"]:
        assert item["description"]
        jsonschema_rs.meta.validate(item["schema"])  # a valid JSON Schema document
        assert item["schema"]["type"] == "object"
        jsonschema_rs.validator_for(item["schema"]).validate(item["example"])
    # the envelope every delivery is wrapped in is published too, naming every type
    jsonschema_rs.meta.validate(body["envelope_schema"])
    assert body["envelope_schema"]["properties"]["type"]["enum"] == ALL_EVENTS
    jsonschema_rs.validator_for(body["envelope_schema"]).validate(
        {"id": str(uuid.uuid4()), "type": "ping", "created_at": "2026-11-21T10:00:00Z",
         "tenant_id": str(tenant.id), "data": {}})
    submittable = {t["type"] for t in body["data"] if t["submittable"]}
    assert submittable == {"grounding.degraded", "sync.failed"}
    violation = next(t for t in body["data"] if t["type"] == "violation.new")["schema"]
    assert violation["properties"]["severity"]["enum"] == ["critical", "high"]
