"""The OpenAPI document is a contract clients can use without help: it validates as OpenAPI
3.1, and a client generated from it by openapi-python-client parses real responses (a SCIM
User, a SCIM Error, a problem+json body) into typed models."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from app.core.events import EVENT_TYPES


@pytest.fixture(scope="module")
def document(app: Any) -> dict[str, Any]:
    doc: dict[str, Any] = app.openapi()
    return doc


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["servers"] and document["info"]["license"]["name"]


def test_scim_operations_have_typed_bodies_and_parameters(document: dict[str, Any]) -> None:
    paths = document["paths"]
    create = paths["/scim/v2/Users"]["post"]
    body = create["requestBody"]["content"]["application/scim+json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ScimUser"}
    created = create["responses"]["201"]
    assert created["content"]["application/scim+json"]["schema"]["$ref"].endswith("/ScimUser")
    assert {"Location", "ETag", "X-Request-ID"} <= set(created["headers"])
    assert create["responses"]["400"]["content"]["application/scim+json"]["schema"][
        "$ref"].endswith("/ScimError")
    patch = paths["/scim/v2/Users/{user_id}"]["patch"]["requestBody"]
    assert patch["content"]["application/scim+json"]["schema"]["$ref"].endswith("/ScimPatchOp")
    listing = {p["name"]: p["schema"] for p in paths["/scim/v2/Users"]["get"]["parameters"]}
    assert listing["startIndex"] == listing["count"] == {"type": "integer"}
    assert paths["/scim/v2/Users"]["get"]["responses"]["200"]["content"][
        "application/scim+json"]["schema"]["$ref"].endswith("/ScimListResponse")
    for op in paths["/scim/v2/Me"].values():
        assert not any(status.startswith("2") for status in op["responses"])
        assert "501" in op["responses"] and "200" not in op["responses"]


def test_public_operations_say_so_and_streams_declare_their_headers(
        document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert paths["/api/v1/auth/login"]["post"]["security"] == []
    assert paths["/healthz"]["get"]["security"] == []
    assert paths["/api/v1/projects"]["post"]["security"] == [{"bearer": []}]
    export = paths["/api/v1/audit/export"]["get"]["responses"]["200"]
    assert {"X-Drift-Next-Cursor", "X-Drift-Has-More", "Link", "X-Request-ID"} <= set(
        export["headers"])
    assert export["content"]["application/x-ndjson"]["schema"]["type"] == "string"
    stream = paths["/api/v1/audit/stream"]["get"]["responses"]["200"]
    assert "text/event-stream" in stream["content"]
    key = [p for p in paths["/api/v1/projects"]["post"]["parameters"]
           if p["name"] == "Idempotency-Key"]
    assert key and key[0]["in"] == "header"


def test_every_event_type_is_a_documented_webhook(document: dict[str, Any]) -> None:
    hooks = document["webhooks"]
    assert set(hooks) == set(EVENT_TYPES)
    body = hooks["scan.completed"]["post"]["requestBody"]["content"]["application/json"]
    data_ref = body["schema"]["properties"]["data"]["$ref"]
    name = data_ref.rsplit("/", 1)[-1]
    assert "project_id" in document["components"]["schemas"][name]["properties"]
