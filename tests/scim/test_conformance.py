"""The third-party scim2-tester suite against the real server (uvicorn on a loopback port),
with every feature announced in /ServiceProviderConfig: every check must pass."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from scim2_client import BaseSyncSCIMClient
from scim2_tester import CheckResult, Status, check_server

from tests.conftest import LiveServer, Tenant
from tests.scim.conftest import Scim


class HttpxSCIMClient(BaseSyncSCIMClient):
    """scim2-client over a plain httpx.Client (its bundled engine wants httpx2)."""

    def __init__(self, client: httpx.Client, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client

    def _stays_under_base_url(self, endpoint: str) -> bool:
        url = self.client.build_request("GET", endpoint).url
        base = self.client.base_url
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port) \
            and url.raw_path.startswith(base.raw_path)

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        return self.client.request(method, url, **kwargs)


def run_tester(base_url: str, token: str) -> list[CheckResult]:
    with httpx.Client(base_url=base_url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        return check_server(HttpxSCIMClient(http))


async def test_scim2_tester_passes_every_check(live_server: LiveServer, tenant: Tenant,
                                               scim: Scim) -> None:
    spc = (await scim.get("/ServiceProviderConfig")).json()
    for feature in ("patch", "bulk", "filter", "sort", "etag"):
        assert spc[feature]["supported"] is True, feature

    results = await asyncio.to_thread(run_tester, f"{live_server.url}/scim/v2", scim.token)

    ran = [r for r in results if r.status != Status.SKIPPED]
    skipped = [f"{r.title} [{r.resource_type}]: {r.reason}" for r in results
               if r.status == Status.SKIPPED]
    failed = [f"{r.title} [{r.resource_type}]: {r.reason}" for r in results
              if r.status in (Status.ERROR, Status.CRITICAL)]
    assert not failed, "\n".join(failed)
    assert not skipped, "\n".join(skipped)
    titles = {r.title for r in ran}
    for expected in ("object_creation", "object_query", "object_replacement", "object_deletion",
                     "check_add_attribute", "check_remove_attribute", "check_replace_attribute",
                     "search_with_attributes", "query_all_schemas", "random_url"):
        assert expected in titles, expected
    assert {r.resource_type for r in ran} >= {"User", "Group"}
    assert len(ran) > 100
