"""The parts of the OpenAPI document FastAPI cannot derive (app.core.openapi calls these):
SCIM request and response schemas, the NDJSON export's and the SSE stream's bodies and
headers, X-Request-ID on every response, and the 3.1 `webhooks` section built from the event
catalog.

The SCIM schemas are written here rather than generated from scim2-models: its serialization
schema is an untyped `{"type": "object"}`, and its validation schema closes every complex
attribute (`additionalProperties: false`) while the service keeps the attributes an identity
provider sends (RFC 7643 extensions, custom sub-attributes). These name every attribute
Drift reads or writes, typed, and leave the rest open.
"""

from __future__ import annotations

from typing import Any

_OPEN: dict[str, Any] = {"additionalProperties": True}


def _obj(props: dict[str, Any], required: list[str] | None = None,
         description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, **_OPEN}
    if required:
        out["required"] = required
    if description:
        out["description"] = description
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_STR = {"type": "string"}
_STRS = {"type": "array", "items": _STR}
_MULTI = _obj({"value": _STR, "display": _STR, "type": _STR, "primary": {"type": "boolean"},
               "$ref": _STR})

SCIM_SCHEMAS: dict[str, dict[str, Any]] = {
    "ScimMeta": _obj({"resourceType": _STR, "created": {"type": "string", "format": "date-time"},
                      "lastModified": {"type": "string", "format": "date-time"},
                      "location": {"type": "string", "format": "uri"}, "version": _STR}),
    "ScimName": _obj({"formatted": _STR, "familyName": _STR, "givenName": _STR,
                      "middleName": _STR, "honorificPrefix": _STR, "honorificSuffix": _STR}),
    "ScimMultiValued": _MULTI,
    "ScimUser": _obj({
        "schemas": _STRS, "id": _STR, "externalId": _STR, "userName": _STR,
        "name": _ref("ScimName"), "displayName": _STR, "nickName": _STR, "title": _STR,
        "userType": _STR, "preferredLanguage": _STR, "locale": _STR, "timezone": _STR,
        "active": {"type": "boolean"},
        "emails": {"type": "array", "items": _ref("ScimMultiValued")},
        "phoneNumbers": {"type": "array", "items": _ref("ScimMultiValued")},
        "groups": {"type": "array", "items": _ref("ScimMultiValued")},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": _obj({
            "employeeNumber": _STR, "costCenter": _STR, "organization": _STR,
            "division": _STR, "department": _STR,
            "manager": _obj({"value": _STR, "$ref": _STR, "displayName": _STR})}),
        "meta": _ref("ScimMeta")},
        description="RFC 7643 User (core and enterprise extension). Users Drift created "
                    "itself carry a name derived from their display name or email "
                    "(docs/scim.md)."),
    "ScimGroup": _obj({"schemas": _STRS, "id": _STR, "externalId": _STR, "displayName": _STR,
                       "members": {"type": "array", "items": _ref("ScimMultiValued")},
                       "meta": _ref("ScimMeta")}, description="RFC 7643 Group (a Drift team)"),
    "ScimListResponse": _obj({
        "schemas": _STRS, "totalResults": {"type": "integer"},
        "startIndex": {"type": "integer"}, "itemsPerPage": {"type": "integer"},
        "Resources": {"type": "array", "items": {"type": "object", **_OPEN}}},
        ["schemas", "totalResults"], "RFC 7644 §3.4.2 ListResponse"),
    "ScimPatchOp": _obj({
        "schemas": _STRS,
        "Operations": {"type": "array", "items": _obj(
            {"op": _STR, "path": _STR, "value": {}}, ["op"])}},
        ["schemas", "Operations"], "RFC 7644 §3.5.2 PatchOp"),
    # null stands for "not given" in each member, as in query parameters
    "ScimSearchRequest": _obj({
        "schemas": {"type": ["array", "null"], "items": _STR,
                    "contains": {"const": "urn:ietf:params:scim:api:messages:2.0:"
                                          "SearchRequest"}},
        "filter": {"type": ["string", "null"]}, "startIndex": {"type": ["integer", "null"]},
        "count": {"type": ["integer", "null"]}, "sortBy": {"type": ["string", "null"]},
        "sortOrder": {"type": ["string", "null"]},
        "attributes": {"type": ["array", "string", "null"], "items": _STR,
                       "description": "A list, or one comma-separated string"},
        "excludedAttributes": {"type": ["array", "string", "null"], "items": _STR}},
        None, "RFC 7644 §3.4.3 SearchRequest"),
    "ScimBulkRequest": _obj({
        "schemas": _STRS, "failOnErrors": {"type": "integer"},
        "Operations": {"type": "array", "items": _obj(
            {"method": _STR, "path": _STR, "bulkId": _STR, "version": _STR, "data": {}},
            ["method"])}}, ["schemas", "Operations"], "RFC 7644 §3.7 BulkRequest"),
    "ScimBulkResponse": _obj({
        "schemas": _STRS, "Operations": {"type": "array", "items": _obj(
            {"method": _STR, "location": _STR, "bulkId": _STR, "version": _STR,
             "status": _STR, "response": {}})}}, ["schemas"], "RFC 7644 §3.7 BulkResponse"),
    "ScimDocument": _obj({"schemas": _STRS, "id": _STR, "meta": _ref("ScimMeta")},
                         description="A discovery document (ServiceProviderConfig, "
                                     "ResourceType, Schema)"),
}


def _scim_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {
        media: {"schema": _ref(schema)} for media in ("application/scim+json",
                                                      "application/json")}}


def _scim_ok(schema: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/scim+json": {"schema": _ref(schema)}}}


def _location_headers() -> dict[str, Any]:
    return {"Location": {"description": "The resource's absolute URL (DRIFT_PUBLIC_URL, or "
                                        "the bound address / trusted proxy's host)",
                         "schema": {"type": "string", "format": "uri"}},
            "ETag": {"description": "The resource's version", "schema": _STR}}


def scim_operation(method: str, path: str, op: dict[str, Any]) -> None:
    """Request and success-response schemas of one /scim/v2 operation."""
    responses = op["responses"]
    tail = path.removeprefix("/scim/v2")
    kind = "ScimUser" if tail.startswith("/Users") else "ScimGroup"
    for p in op.get("parameters", []):
        if p.get("name") in ("startIndex", "count"):
            p["schema"] = {"type": "integer"}
    if tail == "/Me":
        # a SCIM token acts for a tenant, not a user: /Me never succeeds. What it can answer
        # is 501, or what any SCIM request gets first (credentials, body size, database).
        op["responses"] = {k: v for k, v in responses.items()
                           if k in ("401", "403", "413", "429", "501", "503")}
        op["responses"]["501"]["description"] = ("Not implemented: a SCIM token "
                                                 "authenticates a tenant, not a user")
        return
    body: str | None = None
    ok: tuple[str, str] | None = None
    if tail in ("/.search", "/Users/.search", "/Groups/.search"):
        body, ok = "ScimSearchRequest", ("ScimListResponse", "The matching resources")
    elif tail == "/Bulk":
        body, ok = "ScimBulkRequest", ("ScimBulkResponse", "Each operation's outcome")
    elif tail in ("/Users", "/Groups"):
        if method == "post":
            body, ok = kind, (kind, "Created")
        else:
            ok = ("ScimListResponse", "A page of resources")
    elif tail.startswith(("/Users/", "/Groups/")):
        if method in ("put",):
            body = kind
        elif method == "patch":
            body = "ScimPatchOp"
        if method != "delete":
            ok = (kind, "The resource")
    elif tail in ("/ResourceTypes", "/Schemas"):
        ok = ("ScimListResponse", "The documents")
    else:
        ok = ("ScimDocument", "The document")
    if body is not None:
        op["requestBody"] = _scim_body(body)
    if ok is not None:
        status = "201" if "201" in responses else "200"
        responses[status] = {**_scim_ok(*ok), **({"headers": _location_headers()}
                                                 if ok[0] in ("ScimUser", "ScimGroup")
                                                 else {})}


REQUEST_ID = {"description": "The request's id (the caller's X-Request-ID, or generated)",
              "schema": _STR}

AUDIT_STREAMS: dict[str, dict[str, Any]] = {
    "/api/v1/audit/export": {
        "description": "One AuditEventOut JSON object per line, oldest first.",
        "content": {"application/x-ndjson": {
            "schema": {"type": "string",
                       "description": "Newline-delimited AuditEventOut objects"},
            "x-item-schema": _ref("AuditEventOut")}},
        "headers": {
            "X-Drift-Next-Cursor": {"description": "Continue after the last covered event",
                                    "schema": _STR},
            "X-Drift-Has-More": {"description": "Whether more events matched than were sent",
                                 "schema": {"type": "string", "enum": ["true", "false"]}},
            "Link": {"description": '<next export URL>; rel="next"', "schema": _STR}}},
    "/api/v1/audit/stream": {
        "description": "Server-Sent Events: `event: audit` with an AuditEventOut JSON `data` "
                       "and its cursor as `id`; a final `event: error` when the credential or "
                       "the IP allowlist stops allowing it.",
        "content": {"text/event-stream": {
            "schema": {"type": "object", "description": "One event of the stream",
                       "properties": {
                           "event": {"type": "string", "enum": ["audit", "error"]},
                           "data": {"type": "string", "contentMediaType": "application/json",
                                    "description": "audit: an AuditEventOut; error: a "
                                                   "problem (code, detail)"},
                           "id": {"type": "string", "description": "The event's cursor"},
                           "retry": {"type": "integer"}}},
            "x-item-schema": _ref("AuditEventOut")}}},
}


def webhooks_section(components: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.1 `webhooks`: one operation per event type, its body the delivery envelope
    with that type's `data` schema (app.core.events)."""
    from pydantic.json_schema import models_json_schema

    from app.core.events import EVENT_TYPES

    models = sorted({e.model for e in EVENT_TYPES.values()}, key=lambda m: m.__name__)
    refs, schema = models_json_schema([(m, "validation") for m in models],
                                      ref_template="#/components/schemas/Event{model}")
    for name, s in schema.get("$defs", {}).items():
        components[f"Event{name}"] = {**s, "title": f"Event{name}"}
    out: dict[str, Any] = {}
    for name, event in EVENT_TYPES.items():
        data_ref = refs[(event.model, "validation")]
        envelope = {"type": "object", "required": ["id", "type", "created_at", "tenant_id",
                                                   "data"],
                    "properties": {"id": {"type": "string", "format": "uuid"},
                                   "type": {"type": "string", "const": name},
                                   "created_at": {"type": "string", "format": "date-time"},
                                   "tenant_id": {"type": "string", "format": "uuid"},
                                   "data": data_ref}}
        out[name] = {"post": {
            "operationId": f"webhook_{name.replace('.', '_')}",
            "summary": event.description,
            "description": "Signed per Standard Webhooks (webhook-id, webhook-timestamp, "
                           "webhook-signature); docs/webhooks.md.",
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": envelope}}},
            "responses": {"2XX": {"description": "Delivered: any 2xx ends the retries"}}}}
    return out
