"""The OpenAPI document, made truthful about auth and errors.

FastAPI documents neither our bearer credentials nor our problem+json errors (its default 422
schema is not what we send). This adds a bearer security scheme, a Problem schema, and the
error responses every operation can return, so clients and schema-driven fuzzing (schemathesis)
see what the service really does.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.inputs import document_nul_free
from app.core.openapi_contract import (
    AUDIT_STREAMS,
    REQUEST_ID,
    SCIM_SCHEMAS,
    scim_operation,
    webhooks_section,
)

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "Stable machine-readable error code"},
        "detail": {"type": "string", "description": "What went wrong and what to do"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "properties": {"field": {"type": "string"},
                                             "message": {"type": "string"}}}},
    },
    "additionalProperties": True,
}

SCIM_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schemas", "status", "detail"],
    "properties": {
        "schemas": {"type": "array", "items": {"type": "string"}},
        "status": {"type": "string", "description": "The HTTP status, as a string (RFC 7644)"},
        "scimType": {"type": "string"},
        "detail": {"type": "string"},
    },
}

_DESCRIPTIONS = {
    400: "Bad request", 401: "Missing, invalid, expired or revoked credentials",
    402: "Seat limit reached", 403: "Not allowed (role, project access, IP allowlist)",
    404: "Not found (or not in your tenant)", 405: "Method not allowed",
    409: "Conflict", 410: "Gone", 412: "Precondition failed",
    413: "Request body over the size limit (refused before it is read)",
    415: "The body is not JSON (send Content-Type: application/json)",
    422: "Invalid request body or parameters", 429: "Too many requests",
    501: "Not implemented", 503: "Database unavailable; retry",
}

# Operations anyone may call without credentials: (method, path) prefixes.
PUBLIC_OPERATIONS: set[tuple[str, str]] = {
    ("get", "/healthz"), ("get", "/readyz"),
    ("post", "/api/v1/auth/login"), ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/invitations/{token}/accept"),
    ("get", "/api/v1/settings/ip-allowlist/emergency-reset/{token}"),
    ("post", "/api/v1/settings/ip-allowlist/emergency-reset/{token}"),
}


def _problem_ref() -> dict[str, Any]:
    return {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _scim_error_ref() -> dict[str, Any]:
    return {"application/scim+json": {"schema": {"$ref": "#/components/schemas/ScimError"}}}


def install_openapi(app: FastAPI, *, extra_public: set[tuple[str, str]] | None = None) -> None:
    public = PUBLIC_OPERATIONS | (extra_public or set())

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        components["schemas"].pop("HTTPValidationError", None)
        components["schemas"].pop("ValidationError", None)
        components["schemas"]["ScimError"] = SCIM_ERROR_SCHEMA
        components["schemas"].update(SCIM_SCHEMAS)
        schema["servers"] = [{"url": "/", "description": "This server (DRIFT_PUBLIC_URL)"}]
        schema["info"]["license"] = {"name": "Proprietary", "identifier": "LicenseRef-Drift"}
        schemes = components.setdefault("securitySchemes", {})
        schemes["bearer"] = {
            "type": "http", "scheme": "bearer",
            "description": "An API key (dck_...) or a session access token (JWT)."}
        schemes["scim"] = {
            "type": "http", "scheme": "bearer",
            "description": "A tenant SCIM token (dcs_...); works on /scim/v2 only."}
        for path, operations in schema.get("paths", {}).items():
            for method, op in operations.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                for param in op.get("parameters", ()):
                    if param.get("in") == "query":  # refused by app.core.inputs.query_text_refusal
                        document_nul_free(param.get("schema", {}))
                responses = op["responses"]
                if path.startswith("/scim/"):
                    _scim_responses(method, path, op)
                    scim_operation(method, path, op)
                    continue
                if path in AUDIT_STREAMS and "200" in responses:
                    responses["200"] = AUDIT_STREAMS[path]
                statuses = [422, 503]
                if (method, path) in public:
                    op["security"] = []
                else:
                    op.setdefault("security", [{"bearer": []}])
                    statuses += [401, 403, 404]
                if method in ("post", "put", "patch", "delete"):
                    statuses += [400, 409]
                if method in ("post", "put", "patch"):
                    statuses += [413]  # RequestContextMiddleware's body limits
                if "requestBody" in op:
                    statuses += [415]  # a body of another media type (app/core/errors.py)
                if path not in ("/healthz", "/readyz"):
                    statuses += [400, 429]  # 429: tenant budgets, login/token throttling
                for status in sorted(set(statuses)):
                    key = str(status)
                    if key == "422" or key not in responses:
                        responses[key] = {"description": _DESCRIPTIONS[status],
                                          "content": _problem_ref()}
                    elif "content" not in responses[key]:
                        responses[key]["content"] = _problem_ref()
        for operations in schema.get("paths", {}).values():
            for op in operations.values():
                for response in op.get("responses", {}).values():
                    response.setdefault("headers", {})["X-Request-ID"] = REQUEST_ID
        schema["webhooks"] = webhooks_section(components["schemas"])
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _scim_responses(method: str, path: str, op: dict[str, Any]) -> None:
    """SCIM operations: the scim bearer scheme and SCIM Error responses (RFC 7644 3.12)."""
    op.setdefault("security", [{"scim": []}])
    responses = op["responses"]
    responses.pop("422", None)  # SCIM has no 422: invalid input is a 400 SCIM error
    for key, response in responses.items():  # SCIM answers application/scim+json
        content = response.get("content", {})
        if key.startswith("2") and "application/json" in content:
            content["application/scim+json"] = content.pop("application/json")
    statuses = {400, 401, 403, 404, 429, 503}  # 429: the tenant's SCIM request budget
    if method in ("post", "put", "patch", "delete"):
        statuses |= {409, 412, 402}
    if method in ("post", "put", "patch"):
        statuses |= {413}  # over maxPayloadSize (or Bulk's maxOperations)
    if method in ("get", "put", "patch", "delete") and "{" in path:
        statuses |= {304, 412}
    if path.endswith("/Me"):
        statuses |= {501}
    for status in sorted(statuses):
        key = str(status)
        if status == 304:
            responses.setdefault(key, {"description": "Not modified (If-None-Match)"})
        elif key not in responses:
            responses[key] = {"description": _DESCRIPTIONS.get(status, "Error"),
                              "content": _scim_error_ref()}
        elif "content" not in responses[key]:  # described by the route, body not yet
            responses[key]["content"] = _scim_error_ref()
