"""Structured logs (request context on every line, an access line per request, no secrets)
and OpenTelemetry traces (a request's DB spans; a webhook delivery linked to its request)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.core import tracing
from app.core.logs import ContextFilter, JsonFormatter
from app.core.runtime import Runtime
from tests.conftest import Tenant
from tests.scim.conftest import assert_scim_error
from tests.teams.conftest import invite_token
from tests.webhooks.conftest import Receiver, Reply, quiesce, receiver  # noqa: F401 (fixture)
from tests.webhooks.helpers import deliver, register

PASSWORD = "correct horse battery staple 42"
NEW_PASSWORD = "another long passphrase 77"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged (DEBUG and up), as the JSON lines DRIFT_LOG_FORMAT=json writes."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # the test's own HTTP client logs each URL it requests (an accept URL holds its token);
    # that is the client's log, not the service's
    client_log = logging.getLogger("httpx")
    client_level = client_log.level
    client_log.setLevel(logging.WARNING)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        client_log.setLevel(client_level)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


async def test_a_full_flow_logs_context_and_access_lines_and_no_secret(
        client: httpx.AsyncClient, runtime: Runtime, make_tenant: Any,
        receiver: Receiver, json_log: io.StringIO) -> None:  # noqa: F811
    tenant: Tenant = await make_tenant(owner_password=PASSWORD)
    secrets: list[str] = [PASSWORD, NEW_PASSWORD, tenant.owner.api_key]
    # password login, then the access and refresh tokens
    r = await client.post("/api/v1/auth/login", json={
        "tenant": tenant.slug, "email": tenant.owner.email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    session = r.json()
    secrets += [session["access_token"], session["refresh_token"]]
    r = await client.get("/api/v1/me",
                         headers={"Authorization": f"Bearer {session['access_token']}"})
    assert r.status_code == 200
    # API key use, including a refusal (a wrong key is logged, never echoed)
    assert (await client.get("/api/v1/projects", headers=tenant.headers)).status_code == 200
    wrong = tenant.owner.api_key[:-4] + "AAAA"
    secrets.append(wrong)
    assert (await client.get("/api/v1/projects", headers={"Authorization": f"Bearer {wrong}"})
            ).status_code == 401
    # a SCIM token, created and used
    r = await client.post("/api/v1/settings/scim", headers=tenant.headers, json={"name": "Okta"})
    assert r.status_code == 201, r.text
    scim_token = r.json()["token"]
    secrets.append(scim_token)
    r = await client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {scim_token}"})
    assert r.status_code == 200
    wrong_scim = scim_token[:-4] + "AAAA"
    secrets.append(wrong_scim)
    assert_scim_error(await client.get("/scim/v2/Users",
                                       headers={"Authorization": f"Bearer {wrong_scim}"}), 401)
    # a webhook signing secret
    endpoint = await register(client, tenant, receiver.hook(Reply(200)).url,
                              ["project.created"])
    secrets.append(endpoint["secret"])
    # an invitation token, accepted (the token is part of the URL path)
    _inv, token = await invite_token(client, runtime, tenant)
    secrets.append(token)
    r = await client.post(f"/api/v1/invitations/{token}/accept?token={token}",
                          json={"name": "Walker", "password": NEW_PASSWORD})
    assert r.status_code in (200, 201), r.text
    secrets += [v for k, v in r.json().items() if isinstance(v, str) and "token" in k]
    await quiesce(tenant)

    logged = lines(json_log)
    text = json_log.getvalue()
    for secret in secrets:
        assert secret not in text, "a secret reached the log"
    access = [x for x in logged if x["logger"] == "drift.access"]
    assert {(x["method"], x["route"], x["status"]) for x in access} >= {
        ("POST", "/api/v1/auth/login", 200),
        ("GET", "/api/v1/me", 200),
        ("GET", "/api/v1/projects", 200),
        ("GET", "/api/v1/projects", 401),
        ("GET", "/scim/v2/Users", 200),
        ("POST", "/api/v1/invitations/{token}/accept", 201 if r.status_code == 201 else 200),
    }
    for x in access:
        assert x["request_id"] and x["duration_ms"] >= 0 and x["bytes"] >= 0
    by_route = {(x["method"], x["route"], x["status"]): x for x in access}
    assert by_route[("GET", "/api/v1/projects", 200)]["tenant_id"] == str(tenant.id)
    assert by_route[("GET", "/api/v1/projects", 200)]["principal"] == "api_key"
    assert by_route[("GET", "/api/v1/me", 200)]["principal"] == "user"
    assert by_route[("GET", "/scim/v2/Users", 200)]["principal"] == "scim"
    assert by_route[("GET", "/scim/v2/Users", 200)]["tenant_id"] == str(tenant.id)
    # lines logged inside a request carry its id: the refused SCIM token's warning does
    refused = by_route[("GET", "/scim/v2/Users", 401)]["request_id"]
    assert [x for x in logged if x["request_id"] == refused and x["logger"] != "drift.access"]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()


async def test_a_request_is_one_trace_with_its_db_spans_and_a_delivery_links_to_it(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant,
        receiver: Receiver, spans: InMemorySpanExporter) -> None:  # noqa: F811
    hook = receiver.hook(Reply(200))
    try:
        await register(client, tenant, hook.url, ["project.created"])
        spans.clear()
        r = await client.post("/api/v1/projects", headers=tenant.headers,
                              json={"name": "Traced"})
        assert r.status_code == 201
        finished = spans.get_finished_spans()
        (server,) = [s for s in finished if s.kind == SpanKind.SERVER]
        assert server.name == "POST /api/v1/projects"
        assert server.attributes is not None
        assert server.attributes["http.response.status_code"] == 201
        trace_id = server.context.trace_id
        db = [s for s in finished if s.kind == SpanKind.CLIENT
              and s.attributes and s.attributes.get("db.system") == "postgresql"]
        assert db, [s.name for s in finished]
        assert all(s.context.trace_id == trace_id for s in finished)
        assert all(s.parent is not None for s in db)
        # the event row remembers the request's trace context
        (row,) = await tenant.sql("SELECT traceparent FROM outbox_events")
        assert row["traceparent"].split("-")[1] == format(trace_id, "032x")

        spans.clear()
        assert await deliver(runtime, tenant) == 1
        await hook.wait_for(1)
        (delivery,) = [s for s in spans.get_finished_spans() if s.name == "webhook.deliver"]
        assert delivery.context.trace_id != trace_id  # its own trace, linked to the request
        assert [link.context.trace_id for link in delivery.links] == [trace_id]
        assert [link.context.span_id for link in delivery.links] == [server.context.span_id]
    finally:
        await quiesce(tenant)


async def test_tracing_off_installs_nothing(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert tracing.tracer is None
    r = await client.post("/api/v1/projects", headers=tenant.headers, json={"name": "Untraced"})
    assert r.status_code == 201
    (row,) = await tenant.sql("SELECT traceparent FROM outbox_events")
    assert row["traceparent"] is None
