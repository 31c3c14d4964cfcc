"""A tenant's custom User attributes: the declaration (admin REST API) and the User resource
definition SCIM requests work from (docs/scim.md, "Custom attributes")."""

from __future__ import annotations

from typing import Any

import asyncpg

from app.core import clock
from app.core.audit_record import record
from app.core.errors import BadRequest, Conflict
from app.core.inputs import case_insensitive_duplicate
from app.core.tx import Tx
from app.scim.attributes import USER, ResourceDef
from app.scim.constants import URN_CUSTOM
from app.scim.custom import CustomAttr, user_def
from app.scim.discovery import Discovery, discovery, tenant_discovery
from app.scim.repository import custom as repo
from app.scim.schemas import CustomAttributeIn


def _attrs(rows: list[asyncpg.Record]) -> tuple[CustomAttr, ...]:
    return tuple(CustomAttr(r["name"], r["type"], r["required"], r["case_exact"],
                            r["description"]) for r in rows)


async def user_definition(tx: Tx) -> ResourceDef:
    """The tenant's User resource: USER plus its custom extension when it declared any."""
    return user_def(_attrs(await repo.list_attributes(tx)))


async def definition_for(tx: Tx, *texts: Any) -> ResourceDef:
    """For reads: the tenant's User resource only when a filter, sortBy or projection names
    the custom extension (custom attributes are always URN-qualified there); USER otherwise,
    so a read that does not ask for them costs no extra query."""
    if any(isinstance(t, str) and URN_CUSTOM.lower() in t.lower() for t in texts):
        return await user_definition(tx)
    return USER


async def discovery_for(tx: Tx, public_url: str) -> Discovery:
    attrs = _attrs(await repo.list_attributes(tx))
    return tenant_discovery(public_url, user_def(attrs)) if attrs else discovery(public_url)


async def list_attributes(tx: Tx) -> list[asyncpg.Record]:
    return await repo.list_attributes(tx)




async def replace(tx: Tx, items: list[CustomAttributeIn]) -> list[asyncpg.Record]:
    """Declare the tenant's custom attributes (the complete set). An attribute left out is
    removed and its values deleted from every user; a type cannot change in place."""
    duplicate = case_insensitive_duplicate(item.name for item in items)
    if duplicate is not None:
        raise BadRequest(f"The attribute {duplicate[0]!r} is declared twice (names are "
                         f"compared case-insensitively: {duplicate[1]!r}).",
                         code="duplicate_scim_attribute")
    old = await repo.list_attributes(tx)
    before = {r["name"].lower(): r for r in old}
    for item in items:
        prev = before.get(item.name.lower())
        if prev is not None and prev["type"] != item.type:
            raise Conflict(f"The attribute {prev['name']!r} is a {prev['type']}; its type cannot "
                           f"change to {item.type}. Remove it first (its stored values are "
                           "deleted), then declare it again.", code="scim_attribute_type_changed")
    attrs = [CustomAttr(i.name, i.type, i.required, i.case_exact, i.description) for i in items]
    now = clock.now()
    removed = sorted(set(before) - {item.name.lower() for item in items})
    values_deleted = await repo.delete_values(tx, removed, now) if removed else 0
    await repo.replace_attributes(tx, attrs, now)
    if any(before[k]["case_exact"] != i.case_exact for k, i in
           ((i.name.lower(), i) for i in items) if k in before):
        await repo.reindex(tx, None)
    doc = [_audit_attr(a) for a in attrs]
    if doc != [_audit_attr(a) for a in _attrs(old)]:
        await record(tx, "scim.schema_updated", resource_type="scim_schema",
                     metadata={"urn": URN_CUSTOM, "previous": [_audit_attr(a) for a in
                                                               _attrs(old)],
                               "attributes": doc, "removed": [before[k]["name"]
                                                              for k in removed],
                               "users_values_deleted": values_deleted})
    return await repo.list_attributes(tx)


def _audit_attr(a: CustomAttr) -> dict[str, Any]:
    return {"name": a.name, "type": a.type, "required": a.required, "case_exact": a.case_exact,
            "description": a.description}
