"""Listing and searching (RFC 7644 §3.4.2, §3.4.3): filter, sortBy/sortOrder, startIndex/count
and attributes/excludedAttributes, for GET /Users, GET /Groups, POST /Users/.search,
POST /Groups/.search and POST /.search (both types at once)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from app.core.tx import Tx
from app.scim import render
from app.scim.attributes import GROUP, USER, ResourceDef
from app.scim.constants import URN_CUSTOM, URN_LIST, URN_SEARCH
from app.scim.errors import invalid_syntax, invalid_value
from app.scim.filter_syntax import parse_filter
from app.scim.http import paging, sort_order
from app.scim.projection import Projection
from app.scim.repository import search
from app.scim.service import custom

_PARAMS = ("filter", "startIndex", "count", "sortBy", "sortOrder", "attributes",
           "excludedAttributes")


@dataclass(frozen=True)
class ListRequest:
    query: search.Query
    start: int
    projection: Projection
    # the filter, sortBy or projection names the tenant's custom extension: only then is its
    # declaration read (app.scim.service.custom.definition_for)
    custom: bool = False


def from_params(params: Mapping[str, Any]) -> ListRequest:
    """Query parameters (GET) or a SearchRequest body (POST .search), names case-insensitive."""
    lowered = {k.lower(): v for k, v in params.items() if isinstance(k, str)}
    get = {name: lowered.get(name.lower()) for name in _PARAMS}
    flt = get["filter"]
    if flt is not None and not isinstance(flt, str):
        raise invalid_value("filter must be a string.")
    sort_by = get["sortBy"]
    if sort_by is not None and (not isinstance(sort_by, str)):
        raise invalid_value("sortBy must be an attribute name.")
    start, count = paging(get["startIndex"], get["count"])
    query = search.Query(filter=parse_filter(flt) if flt else None,
                         sort_by=sort_by or None, descending=sort_order(get["sortOrder"]),
                         offset=start - 1, limit=count)
    named = any(URN_CUSTOM.lower() in str(v).lower() for v in get.values() if v is not None)
    return ListRequest(query, start, Projection.of(get["attributes"], get["excludedAttributes"]),
                       custom=named)


@lru_cache(maxsize=2048)
def from_query_string(raw: bytes) -> ListRequest:
    """A GET's query string, read as the request's `query_params` read it (latin-1, blank values
    kept, the last of a repeated name), then `from_params`. Cached per query string: identity
    providers repeat the same lookups (`userName eq "..."` before each create), and a refused
    one raises again each time (exceptions are not cached)."""
    return from_params(dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)))


def from_search_body(body: Any) -> ListRequest:
    if not isinstance(body, dict):
        raise invalid_syntax("The search request must be a JSON object.")
    schemas = next((v for k, v in body.items() if isinstance(k, str) and k.lower() == "schemas"),
                   None)
    if schemas is not None and (not isinstance(schemas, list) or URN_SEARCH.lower() not in
                                (str(s).lower() for s in schemas)):
        raise invalid_syntax(f'schemas must be ["{URN_SEARCH}"].')
    return from_params(body)


def list_response(resources: list[dict[str, Any]], total: int, start: int) -> dict[str, Any]:
    return {"schemas": [URN_LIST], "totalResults": total, "startIndex": start,
            "itemsPerPage": len(resources), "Resources": resources}


def _rdef(kind: str) -> ResourceDef:
    return USER if kind == "User" else GROUP


def _render(kind: str, row: Any, base: str, with_rel: bool) -> dict[str, Any]:
    rel = row["rel"] if with_rel else None
    if kind == "User":
        return render.user_resource(row, base, rel)
    return render.group_resource(row, base, rel)


async def list_resources(tx: Tx, kind: str, req: ListRequest, base: str) -> dict[str, Any]:
    rdef = await custom.user_definition(tx) if kind == "User" and req.custom else _rdef(kind)
    with_rel = req.projection.wants(rdef, "groups" if kind == "User" else "members")
    rows, total = await search.page(tx, kind, req.query, with_relations=with_rel, user=rdef)
    resources = [req.projection.apply(rdef, _render(kind, r, base, with_rel)) for r in rows]
    return list_response(resources, total, req.start)


async def search_all(tx: Tx, req: ListRequest, base: str) -> dict[str, Any]:
    user = await custom.user_definition(tx) if req.custom else USER
    keys, total = await search.root_page(tx, req.query, user=user)
    with_groups = req.projection.wants(user, "groups")
    with_members = req.projection.wants(GROUP, "members")
    users = await search.users_by_ids(tx, [i for k, i in keys if k == "User"], with_groups) \
        if any(k == "User" for k, _ in keys) else {}
    groups = await search.groups_by_ids(tx, [i for k, i in keys if k == "Group"], with_members) \
        if any(k == "Group" for k, _ in keys) else {}
    resources = []
    for kind, rid in keys:
        row = users.get(rid) if kind == "User" else groups.get(rid)
        if row is None:  # removed since the page was read (same transaction: cannot happen)
            continue
        with_rel = with_groups if kind == "User" else with_members
        rdef = user if kind == "User" else GROUP
        resources.append(req.projection.apply(rdef, _render(kind, row, base, with_rel)))
    return list_response(resources, total, req.start)
