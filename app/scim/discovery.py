"""The discovery documents (RFC 7644 §4): /ServiceProviderConfig, /ResourceTypes, /Schemas.

Built from the attribute definitions in app.scim.attributes (so what we announce is what the
rest of the code enforces) and passed through scim2-models' ServiceProviderConfig,
ResourceType and Schema models, which validate their shape. Built once per base URL."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from scim2_models import Context, ResourceType, Schema, ServiceProviderConfig

from app.scim.attributes import GROUP, RESOURCES, Attr, ResourceDef, SchemaDef
from app.scim.constants import (
    BULK_MAX_OPERATIONS,
    DEFAULT_COUNT,
    MAX_PAYLOAD_SIZE,
    MAX_RESULTS,
    PREFIX,
    URN_RESOURCE_TYPE,
    URN_SCHEMA,
    URN_SPC,
)

_CTX = Context.RESOURCE_QUERY_RESPONSE


def attribute_doc(a: Attr) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": a.name, "type": a.type, "multiValued": a.multi, "description": a.description,
        "required": a.required, "caseExact": a.case_exact, "mutability": a.mutability,
        "returned": a.returned, "uniqueness": a.uniqueness,
    }
    if a.canonical:
        doc["canonicalValues"] = list(a.canonical)
    if a.type == "reference":
        doc["referenceTypes"] = list(a.reference_types)
    if a.sub:
        doc["subAttributes"] = [attribute_doc(s) for s in a.sub]
    return doc


def _schema_doc(s: SchemaDef, base: str) -> dict[str, Any]:
    doc = {"schemas": [URN_SCHEMA], "id": s.id, "name": s.name, "description": s.description,
           "attributes": [attribute_doc(a) for a in s.attrs],
           "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{s.id}"}}
    out: dict[str, Any] = Schema.model_validate(doc, scim_ctx=_CTX).model_dump(scim_ctx=_CTX)
    return out


def _resource_type_doc(base: str, rdef: ResourceDef) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemas": [URN_RESOURCE_TYPE], "id": rdef.name, "name": rdef.name,
        "endpoint": rdef.endpoint, "description": rdef.description, "schema": rdef.core.id,
        "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/{rdef.name}"},
    }
    if rdef.extensions:
        doc["schemaExtensions"] = [{"schema": e.id, "required": False} for e in rdef.extensions]
    out: dict[str, Any] = ResourceType.model_validate(doc, scim_ctx=_CTX).model_dump(
        scim_ctx=_CTX)
    return out


def _spc_doc(base: str, public_url: str) -> dict[str, Any]:
    doc = {
        "schemas": [URN_SPC],
        "documentationUri": f"{public_url}/docs#/scim",
        "patch": {"supported": True},
        "bulk": {"supported": True, "maxOperations": BULK_MAX_OPERATIONS,
                 "maxPayloadSize": MAX_PAYLOAD_SIZE},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "pagination": {"cursor": False, "index": True, "defaultPaginationMethod": "index",
                       "defaultPageSize": DEFAULT_COUNT, "maxPageSize": MAX_RESULTS},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "Bearer token", "primary": True,
            "description": "A tenant SCIM token (dcs_...) created by a tenant admin with "
                           "POST /api/v1/settings/scim, sent as `Authorization: Bearer <token>`.",
        }],
        "meta": {"resourceType": "ServiceProviderConfig",
                 "location": f"{base}/ServiceProviderConfig"},
    }
    out: dict[str, Any] = ServiceProviderConfig.model_validate(doc, scim_ctx=_CTX).model_dump(
        scim_ctx=_CTX)
    return out


class Discovery:
    def __init__(self, public_url: str,
                 resources: tuple[ResourceDef, ...] = RESOURCES) -> None:
        public_url = public_url.rstrip("/")
        base = public_url + PREFIX
        self.service_provider_config = _spc_doc(base, public_url)
        self.resource_types = {r.name: _resource_type_doc(base, r) for r in resources}
        self.schemas: dict[str, dict[str, Any]] = {}
        for r in resources:
            for s in r.schemas:
                self.schemas.setdefault(s.id, _schema_doc(s, base))

    def resource_type(self, rid: str) -> dict[str, Any] | None:
        return self.resource_types.get(rid) or next(
            (d for k, d in self.resource_types.items() if k.lower() == rid.lower()), None)

    def schema(self, sid: str) -> dict[str, Any] | None:
        return self.schemas.get(sid) or next(
            (d for k, d in self.schemas.items() if k.lower() == sid.lower()), None)


@lru_cache(maxsize=8)
def discovery(public_url: str) -> Discovery:
    return Discovery(public_url)


@lru_cache(maxsize=256)
def tenant_discovery(public_url: str, user: ResourceDef) -> Discovery:
    """The documents of a tenant whose User resource carries its custom extension
    (app.scim.custom.user_def, cached per declaration, so equal tenants share one)."""
    return Discovery(public_url, (user, GROUP))
