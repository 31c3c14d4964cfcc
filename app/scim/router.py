"""HTTP for SCIM 2.0 at /scim/v2 (RFC 7644), and the admin REST API under
/api/v1/settings/scim (settings_router). Only HTTP here: parsing, status codes, headers."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any, Protocol

import asyncpg
from fastapi import APIRouter, Request
from starlette.responses import Response

from app.core.access import get_runtime
from app.core.tx import Tx
from app.core.urls import public_url
from app.scim.attributes import GROUP, ResourceDef
from app.scim.auth import ScimTx
from app.scim.discovery import Discovery, discovery
from app.scim.errors import ScimError, not_found
from app.scim.http import check_if_match, not_modified, read_json, resource_response, scim_response
from app.scim.projection import Projection
from app.scim.render import base_url
from app.scim.service import bulk, custom, groups, query, users
from app.scim.service.common import parse_id
from app.scim.settings_router import router as settings_router

scim = APIRouter(prefix="/scim/v2", tags=["scim"])

# Query parameters are read by the service (query.from_query_string: SCIM rules, SCIM
# errors) and only described here for the OpenAPI document: declaring them as FastAPI
# parameters cost about a third of the CPU of a filtered GET in validation alone.


def _param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "string"}}


_PROJECTION = [_param("attributes", "Comma-separated attributes to return"),
               _param("excludedAttributes", "Comma-separated attributes to leave out")]
_LISTING = [_param("filter", 'RFC 7644 filter, e.g. userName eq "bjensen"'),
            _param("startIndex", "1-based index of the first result (default 1)"),
            _param("count", "Page size (default 100, at most 1000)"),
            _param("sortBy", "Attribute to sort by"),
            _param("sortOrder", "ascending (default) or descending"), *_PROJECTION]
LIST_DOC: dict[str, Any] = {"parameters": _LISTING}
PROJECTION_DOC: dict[str, Any] = {"parameters": _PROJECTION}

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "SCIM error (invalidFilter, invalidValue, ...)"},
    401: {"description": "Missing, unknown or revoked SCIM token"},
    404: {"description": "No such resource in this tenant"},
}


def _public(request: Request) -> str:
    return public_url(get_runtime(request).settings, request.scope)


def _base(request: Request) -> str:
    return base_url(_public(request))


async def _user_def(tx: Tx, proj: Projection) -> ResourceDef:
    """The User definition a projection needs (the tenant's custom attributes when it names
    them)."""
    return await custom.definition_for(tx, *(proj.include or ()), *(proj.exclude or ()))


def _projection(request: Request) -> Projection:
    q = request.query_params
    return Projection.of(q.get("attributes"), q.get("excludedAttributes"))


# ---- discovery ----

@scim.get("/ServiceProviderConfig", summary="What this SCIM service supports")
async def service_provider_config(request: Request, tx: ScimTx) -> Response:
    return scim_response(discovery(_public(request))
                         .service_provider_config)


async def _tenant_discovery(tx: Tx, request: Request) -> Discovery:
    """The discovery documents as this tenant sees them (its custom User attributes too)."""
    return await custom.discovery_for(tx, _public(request))


def _listed(docs: Iterable[dict[str, Any]]) -> Response:
    """A discovery collection as one ListResponse holding all of it."""
    items = list(docs)
    return scim_response(query.list_response(items, len(items), 1))


def _found(doc: dict[str, Any] | None, missing: str) -> Response:
    if doc is None:
        raise not_found(missing)
    return scim_response(doc)


@scim.get("/ResourceTypes", summary="User and Group")
async def resource_types(request: Request, tx: ScimTx) -> Response:
    return _listed((await _tenant_discovery(tx, request)).resource_types.values())


@scim.get("/ResourceTypes/{resource_type_id}", summary="One resource type", responses=_ERRORS)
async def resource_type(resource_type_id: str, request: Request, tx: ScimTx) -> Response:
    return _found((await _tenant_discovery(tx, request)).resource_type(resource_type_id),
                  f"No resource type {resource_type_id!r}; there are User and Group.")


@scim.get("/Schemas", summary="The User, EnterpriseUser and Group schemas (and the tenant's "
                               "custom User attributes, when it declared any)")
async def schemas(request: Request, tx: ScimTx) -> Response:
    return _listed((await _tenant_discovery(tx, request)).schemas.values())


@scim.get("/Schemas/{schema_id}", summary="One schema", responses=_ERRORS)
async def schema(schema_id: str, request: Request, tx: ScimTx) -> Response:
    return _found((await _tenant_discovery(tx, request)).schema(schema_id),
                  f"No schema {schema_id!r}.")


# ---- search across types ----

@scim.post("/.search", summary="Search Users and Groups at once", responses=_ERRORS)
async def search_root(request: Request, tx: ScimTx) -> Response:
    req = query.from_search_body(await read_json(request))
    return scim_response(await query.search_all(tx, req, _base(request)))


@scim.post("/Bulk", summary="Many operations in one request", responses=_ERRORS)
async def bulk_request(request: Request, tx: ScimTx) -> Response:
    return scim_response(await bulk.run(tx, await read_json(request), _base(request),
                                        secret_key=get_runtime(request).secret_key))


async def me(tx: ScimTx) -> Response:
    raise ScimError(501, "/Me is not implemented: a SCIM token authenticates the identity "
                    "provider for a tenant, not a user.")


for _method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
    scim.add_api_route("/Me", me, methods=[_method], operation_id=f"scim_me_{_method.lower()}",
                       summary="Not implemented: a SCIM token acts for a tenant, not a user",
                       responses={501: {"description": "Not implemented"}})


# ---- Users ----

@scim.get("/Users", summary="List or filter users", responses=_ERRORS, openapi_extra=LIST_DOC)
async def list_users(request: Request, tx: ScimTx) -> Response:
    req = query.from_query_string(request.scope["query_string"])
    return scim_response(await query.list_resources(tx, "User", req, _base(request)))


@scim.post("/Users/.search", summary="Search users", responses=_ERRORS)
async def search_users(request: Request, tx: ScimTx) -> Response:
    req = query.from_search_body(await read_json(request))
    return scim_response(await query.list_resources(tx, "User", req, _base(request)))


@scim.post("/Users", status_code=201, summary="Create (provision) a user", responses=_ERRORS,
           openapi_extra=PROJECTION_DOC)
async def create_user(request: Request, tx: ScimTx) -> Response:
    proj = _projection(request)
    res = await users.create(tx, await read_json(request), _base(request))
    return resource_response(res, 201, proj.apply(await _user_def(tx, proj), res))


@scim.get("/Users/{user_id}", summary="Get a user", responses=_ERRORS,
          openapi_extra=PROJECTION_DOC)
async def get_user(user_id: str, request: Request, tx: ScimTx) -> Response:
    proj = _projection(request)
    res = users.resource(await users.get(tx, parse_id(user_id, "user")), _base(request))
    if not_modified(request, res["meta"]["version"]):
        return Response(status_code=304, headers={"ETag": res["meta"]["version"]})
    return resource_response(res, 200, proj.apply(await _user_def(tx, proj), res))


@scim.put("/Users/{user_id}", summary="Replace a user (active: false deprovisions)",
          responses=_ERRORS, openapi_extra=PROJECTION_DOC)
async def replace_user(user_id: str, request: Request, tx: ScimTx) -> Response:
    return await _write_user(user_id, request, tx, users.replace)


@scim.patch("/Users/{user_id}", summary="Modify a user (active: false deprovisions)",
            responses=_ERRORS, openapi_extra=PROJECTION_DOC)
async def patch_user(user_id: str, request: Request, tx: ScimTx) -> Response:
    return await _write_user(user_id, request, tx, users.patch)


class _UserWrite(Protocol):
    def __call__(self, tx: Tx, row: asyncpg.Record, body: Any, base: str, *, secret_key: str
                 ) -> Awaitable[dict[str, Any]]: ...


async def _write_user(user_id: str, request: Request, tx: Tx, write: _UserWrite) -> Response:
    """PUT or PATCH a user: lock it, honour If-Match, write, answer the projected resource."""
    proj = _projection(request)
    base = _base(request)
    row = await users.get(tx, parse_id(user_id, "user"), for_update=True)
    check_if_match(request, users.resource(row, base)["meta"]["version"])
    res = await write(tx, row, await read_json(request), base,
                      secret_key=get_runtime(request).secret_key)
    return resource_response(res, 200, proj.apply(await _user_def(tx, proj), res))


@scim.delete("/Users/{user_id}", status_code=204,
             summary="Delete a user: deprovisioned and gone from SCIM, data kept",
             responses=_ERRORS)
async def delete_user(user_id: str, request: Request, tx: ScimTx) -> Response:
    row = await users.get(tx, parse_id(user_id, "user"), for_update=True)
    if request.headers.get("if-match") is not None:
        check_if_match(request, users.resource(row, _base(request))["meta"]["version"])
    await users.delete(tx, row, _base(request), secret_key=get_runtime(request).secret_key)
    return Response(status_code=204)


# ---- Groups ----

@scim.get("/Groups", summary="List or filter groups (Drift teams)", responses=_ERRORS,
          openapi_extra=LIST_DOC)
async def list_groups(request: Request, tx: ScimTx) -> Response:
    req = query.from_query_string(request.scope["query_string"])
    return scim_response(await query.list_resources(tx, "Group", req, _base(request)))


@scim.post("/Groups/.search", summary="Search groups", responses=_ERRORS)
async def search_groups(request: Request, tx: ScimTx) -> Response:
    req = query.from_search_body(await read_json(request))
    return scim_response(await query.list_resources(tx, "Group", req, _base(request)))


@scim.post("/Groups", status_code=201, summary="Create a group (a SCIM-managed team)",
           responses=_ERRORS, openapi_extra=PROJECTION_DOC)
async def create_group(request: Request, tx: ScimTx) -> Response:
    proj = _projection(request)
    res = await groups.create(tx, await read_json(request), _base(request))
    return resource_response(res, 201, proj.apply(GROUP, res))


@scim.get("/Groups/{group_id}", summary="Get a group", responses=_ERRORS,
          openapi_extra=PROJECTION_DOC)
async def get_group(group_id: str, request: Request, tx: ScimTx) -> Response:
    proj = _projection(request)
    # the version leaves members out (render.group_resource): If-None-Match needs none
    row = await groups.get(tx, parse_id(group_id, "group"),
                           with_members=proj.wants(GROUP, "members"))
    res = groups.resource(row, _base(request))
    if not_modified(request, res["meta"]["version"]):
        return Response(status_code=304, headers={"ETag": res["meta"]["version"]})
    return resource_response(res, 200, proj.apply(GROUP, res))


@scim.put("/Groups/{group_id}", summary="Replace a group, members included", responses=_ERRORS,
          openapi_extra=PROJECTION_DOC)
async def replace_group(group_id: str, request: Request, tx: ScimTx) -> Response:
    proj = _projection(request)
    base = _base(request)
    row = await groups.get(tx, parse_id(group_id, "group"), for_update=True,
                           with_members=False)
    check_if_match(request, groups.resource(row, base)["meta"]["version"])
    res = await groups.replace(tx, row, await read_json(request), base)
    return resource_response(res, 200, proj.apply(GROUP, res))


@scim.patch("/Groups/{group_id}",
            summary="Modify a group: rename, add or remove members (204 when only members "
                    "change)", responses=_ERRORS, openapi_extra=PROJECTION_DOC)
async def patch_group(group_id: str, request: Request, tx: ScimTx) -> Response:
    proj = _projection(request)
    base = _base(request)
    gid = parse_id(group_id, "group")
    row = await groups.get(tx, gid, for_update=True, with_members=False)
    if request.headers.get("if-match") is not None:
        check_if_match(request, groups.resource(row, base)["meta"]["version"])
    _, members_only = await groups.patch(tx, row, await read_json(request), base)
    if members_only and proj.everything:
        return Response(status_code=204)
    res = groups.resource(await groups.get(tx, gid, with_members=proj.wants(GROUP, "members")),
                          base)
    return resource_response(res, 200, proj.apply(GROUP, res))


@scim.delete("/Groups/{group_id}", status_code=204, summary="Delete a group (its team)",
             responses=_ERRORS)
async def delete_group(group_id: str, request: Request, tx: ScimTx) -> Response:
    row = await groups.get(tx, parse_id(group_id, "group"), for_update=True,
                           with_members=False)
    if request.headers.get("if-match") is not None:
        check_if_match(request, groups.resource(row, _base(request))["meta"]["version"])
    await groups.delete(tx, row)
    return Response(status_code=204)


# Routes are matched in order: the provisioning hot paths first.
_HOT = ("/scim/v2/Users", "/scim/v2/Groups")
scim.routes.sort(key=lambda r: next((i for i, p in enumerate(_HOT)
                                     if getattr(r, "path", "").startswith(p)), len(_HOT)))

router = APIRouter()
router.include_router(scim)
router.include_router(settings_router)
