"""Tenant A never sees tenant B's audit events: not in the query, the export or the verify
(the live stream is covered in test_stream.py), whatever filter or cursor A passes."""

from __future__ import annotations

import httpx
import pytest

from tests.audit.conftest import ndjson, query_all, record_events
from tests.conftest import Tenant

pytestmark = pytest.mark.isolation


async def test_query_and_export_show_only_the_callers_tenant(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = await record_events(other_tenant, 20, action="project.delete",
                                 resource_id="shared-resource")
    mine = await record_events(tenant, 3, action="project.delete", resource_id="shared-resource")
    their_ids = {str(i) for i in theirs}
    for params in ({}, {"action": "project.delete"}, {"resource_id": "shared-resource"},
                   {"actor": str(other_tenant.owner.id)}, {"order": "asc"}):
        got = await query_all(client, tenant, limit=200, **params)
        assert not their_ids & {e["id"] for e in got}, params
        export = await client.get("/api/v1/audit/export", headers=tenant.headers, params=params)
        assert not their_ids & {e["id"] for e in ndjson(export.content)}, params
    got = await query_all(client, tenant, resource_id="shared-resource")
    assert {e["id"] for e in got} == {str(i) for i in mine}
    # a cursor is only a position: from B's log it means nothing more in A's
    their_page = (await client.get("/api/v1/audit", headers=other_tenant.headers,
                                   params={"order": "asc", "limit": 1})).json()
    r = await client.get("/api/v1/audit/export", headers=tenant.headers,
                         params={"cursor": their_page["pagination"]["cursor"]})
    assert r.status_code == 200 and not their_ids & {e["id"] for e in ndjson(r.content)}
    # verification covers the caller's chain only
    [(n,)] = await tenant.sql("SELECT count(*) FROM audit_events")
    checked = (await client.get("/api/v1/audit/verify", headers=tenant.headers)).json()
    assert checked["valid"] and checked["checked"] == n
