"""GET /metrics: the token guard, and counters that move by exactly what the traffic did."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from app.core.runtime import Runtime
from tests.conftest import Tenant, app_with, asgi_client, assert_problem
from tests.scim.conftest import assert_scim_error
from tests.webhooks.conftest import Receiver, Reply, quiesce, receiver  # noqa: F401 (fixture)
from tests.webhooks.helpers import deliver, register

TOKEN = "metrics-token-" + "m" * 24


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def get_metrics(c: httpx.AsyncClient) -> dict[Any, float]:
    r = await c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return scrape(r.text)


async def test_metrics_need_the_token_and_are_off_without_one(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    r = await client.get("/metrics")  # the session app has no DRIFT_METRICS_TOKEN
    assert r.status_code == 404 and r.json()["code"] == "metrics_disabled"
    async with asgi_client(app_with(runtime, metrics_token=SecretStr(TOKEN))) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"},
                        {"Authorization": f"Basic {TOKEN}"}):
            r = await c.get("/metrics", headers=headers)
            assert r.status_code == 401 and r.json()["code"] == "invalid_metrics_token"
            assert r.headers["www-authenticate"] == "Bearer"
        await get_metrics(c)


async def test_requests_are_counted_by_route_template_and_status_class(
        runtime: Runtime, tenant: Tenant) -> None:
    async with asgi_client(app_with(runtime, metrics_token=SecretStr(TOKEN))) as c:
        r = await c.post("/api/v1/projects", headers=tenant.headers, json={"name": "Metered"})
        assert r.status_code == 201
        pid = r.json()["id"]
        route = "/api/v1/projects/{project_id}"
        before = await get_metrics(c)
        for _ in range(3):
            assert (await c.get(f"/api/v1/projects/{pid}", headers=tenant.headers)
                    ).status_code == 200
        missing = "00000000-0000-0000-0000-000000000000"
        assert_problem(await c.get(f"/api/v1/projects/{missing}", headers=tenant.headers),
                       404, "not_found")
        assert_problem(await c.get("/no/such/path/" + pid), 404, "not_found")
        after = await get_metrics(c)
    count = "drift_http_request_duration_seconds_count"
    ok = {"route": route, "method": "GET", "status": "2xx"}
    assert value(after, count, **ok) - value(before, count, **ok) == 3
    nf = {"route": route, "method": "GET", "status": "4xx"}
    assert value(after, count, **nf) - value(before, count, **nf) == 1
    unmatched = {"route": "<unmatched>", "method": "GET", "status": "4xx"}
    assert value(after, count, **unmatched) - value(before, count, **unmatched) == 1
    assert value(after, "drift_http_response_bytes_total", route=route, method="GET") > \
        value(before, "drift_http_response_bytes_total", route=route, method="GET")
    # never an id in a label: every route label is a template
    for (_name, labels), _v in after.items():
        for key, label in labels:
            assert pid not in label, (key, label)
    # the pool and the queues are reported too
    assert value(after, "drift_queue_depth", queue="webhooks") >= 0
    assert ("drift_queue_depth", (("queue", "email"),)) in after


async def test_a_webhook_delivery_moves_the_attempt_counter_and_the_queue(
        runtime: Runtime, tenant: Tenant, receiver: Receiver) -> None:  # noqa: F811
    try:
        async with asgi_client(app_with(runtime, metrics_token=SecretStr(TOKEN))) as c:
            hook = receiver.hook(Reply(200))
            await register(c, tenant, hook.url, ["project.created"])
            before = await get_metrics(c)
            r = await c.post("/api/v1/projects", headers=tenant.headers, json={"name": "Hooked"})
            assert r.status_code == 201
            queued = await get_metrics(c)
            assert await deliver(runtime, tenant) == 1
            await hook.wait_for(1)
            after = await get_metrics(c)
    finally:
        await quiesce(tenant)
    depth = "drift_queue_depth"
    assert value(queued, depth, queue="webhooks") - value(before, depth, queue="webhooks") == 1
    assert value(after, depth, queue="webhooks") == value(before, depth, queue="webhooks")
    attempts = "drift_webhook_attempts_total"
    assert value(after, attempts, outcome="delivered") - \
        value(before, attempts, outcome="delivered") == 1
    assert value(after, attempts, outcome="retry") == value(before, attempts, outcome="retry")


async def test_scim_operations_are_counted_by_operation_and_outcome(
        runtime: Runtime, tenant: Tenant) -> None:
    async with asgi_client(app_with(runtime, metrics_token=SecretStr(TOKEN))) as c:
        r = await c.post("/api/v1/settings/scim", headers=tenant.headers, json={"name": "Okta"})
        assert r.status_code == 201, r.text
        scim = {"Authorization": f"Bearer {r.json()['token']}"}
        before = await get_metrics(c)
        user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"metered@{tenant.slug}.example", "active": True}
        assert (await c.post("/scim/v2/Users", headers=scim, json=user)).status_code == 201
        assert_scim_error(await c.post("/scim/v2/Users", headers=scim, json=user),
                          409, "uniqueness")
        assert (await c.get("/scim/v2/Users", headers=scim)).status_code == 200
        after = await get_metrics(c)
    ops = "drift_scim_operations_total"

    def moved(**labels: str) -> float:
        return value(after, ops, **labels) - value(before, ops, **labels)

    assert moved(operation="create_users", outcome="success") == 1
    assert moved(operation="create_users", outcome="client_error") == 1
    assert moved(operation="list_users", outcome="success") == 1


def test_a_tally_hands_over_what_observe_would_have_recorded() -> None:
    """Request durations are tallied in the process and flushed (app.core.metrics._Tally):
    the histogram must end up exactly as if each value had been observed."""
    from prometheus_client import CollectorRegistry, Histogram

    from app.core.metrics import _Tally

    registry = CollectorRegistry()
    buckets = (0.005, 0.01, 0.1, 1.0)
    direct = Histogram("direct_seconds", "d", buckets=buckets, registry=registry)
    tallied = Histogram("tallied_seconds", "t", buckets=buckets, registry=registry)
    tally = _Tally(tallied)
    values = [0.0, 0.005, 0.0050001, 0.01, 0.09, 0.1, 0.5, 1.0, 3.0, 250.0]
    for v in values:
        direct.observe(v)
        tally.observe(v)
    assert registry.get_sample_value("tallied_seconds_count") == 0  # not handed over yet
    tally.flush()
    tally.flush()  # nothing twice
    for suffix, labels in [("_count", {}), ("_sum", {})] + [
            ("_bucket", {"le": le}) for le in ("0.005", "0.01", "0.1", "1.0", "+Inf")]:
        assert (registry.get_sample_value("tallied_seconds" + suffix, labels)
                == registry.get_sample_value("direct_seconds" + suffix, labels)), (suffix, labels)
