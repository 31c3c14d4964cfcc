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

_DESCRIPTIONS = {
    400: "Bad request", 401: "Missing, invalid, expired or revoked credentials",
    402: "Seat limit reached", 403: "Not allowed (role, project access, IP allowlist)",
    404: "Not found (or not in your tenant)", 405: "Method not allowed",
    409: "Conflict", 410: "Gone", 412: "Precondition failed",
    422: "Invalid request body or parameters", 503: "Database unavailable; retry",
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
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http", "scheme": "bearer",
            "description": "An API key (dck_...) or a session access token (JWT)."}
        for path, operations in schema.get("paths", {}).items():
            for method, op in operations.items():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                responses = op["responses"]
                statuses = [422, 503]
                if (method, path) not in public and not path.startswith("/scim/"):
                    op.setdefault("security", [{"bearer": []}])
                    statuses += [401, 403, 404]
                if method in ("post", "put", "patch", "delete"):
                    statuses += [400, 409]
                if path not in ("/healthz", "/readyz"):
                    statuses += [400]
                for status in sorted(set(statuses)):
                    key = str(status)
                    if key == "422" or key not in responses:
                        responses[key] = {"description": _DESCRIPTIONS[status],
                                          "content": _problem_ref()}
                    elif "content" not in responses[key]:
                        responses[key]["content"] = _problem_ref()
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
