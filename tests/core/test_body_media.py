"""What a JSON route says about a body that is not JSON: 415 for another media type, and
the line and column of malformed JSON (app/core/errors.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Tenant


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/xml", None])
async def test_a_non_json_body_is_415_and_writes_nothing(client: httpx.AsyncClient,
                                                         tenant: Tenant,
                                                         content_type: str | None) -> None:
    headers = dict(tenant.headers)
    if content_type:
        headers["Content-Type"] = content_type
    r = await client.post("/api/v1/projects", headers=headers,
                          content=b'{"name": "plain", "slug": "plain-text"}')
    assert r.status_code == 415, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == "unsupported_media_type"
    assert "Content-Type: application/json" in problem["detail"]
    assert await tenant.sql("SELECT 1 FROM projects WHERE slug = 'plain-text'") == []
    # the same body declared as JSON (parameters allowed) is taken
    r = await client.post("/api/v1/projects", content=b'{"name": "plain", "slug": "plain-text"}',
                          headers={**tenant.headers,
                                   "Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text
    await tenant.sql("DELETE FROM projects WHERE slug = 'plain-text'")


async def test_malformed_json_names_line_and_column(client: httpx.AsyncClient,
                                                    tenant: Tenant) -> None:
    body = b'{\n  "name": "x",\n  "description": \n}'
    r = await client.post("/api/v1/projects", headers={**tenant.headers,
                                                       "Content-Type": "application/json"},
                          content=body)
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "validation_error"
    [error] = problem["errors"]
    assert "line 4, column 1" in error["field"]
    assert "line 4, column 1" in error["message"] and "line 4, column 1" in problem["detail"]
    assert "Expecting value" in error["message"]
