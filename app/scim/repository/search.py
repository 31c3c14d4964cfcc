"""SCIM list queries: one filter, one sort, one page, in as few round trips as possible.

A page is `... WHERE <filter> ORDER BY <sortBy>, created_at, id LIMIT count OFFSET start-1`
with `count(*) OVER ()` for totalResults, so `GET /Users?filter=userName eq "x"` is one
indexed query (users_user_name_uq on (tenant_id, lower(user_name))). Group memberships
(users' `groups`, groups' `members`) are aggregated only for the rows of the page, and only
when the response includes them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache, lru_cache
from typing import Any
from uuid import UUID

import asyncpg

from app.core.keyset import Params
from app.core.tx import Tx
from app.scim.attributes import GROUP, USER, ResourceDef, resolve
from app.scim.filter_syntax import And, Compare, Node, Not, Or, ValuePath
from app.scim.repository.filters import Col, Rel, Target, sort_sql, where_sql

# a user whose DELETE the mass-deprovision breaker holds is gone for SCIM (docs/scim.md)
NOT_HELD_DELETE = "(u.scim_resource -> '_held' ->> 'op') IS DISTINCT FROM 'delete'"

# The SCIM document of a user; users Drift created itself have none yet, and are shown with
# what Drift knows (mirrors app.scim.render.fallback_doc).
_NAME_SRC = ("btrim(regexp_replace(coalesce(nullif(btrim(regexp_replace(u.display_name, "
             "'\\s+', ' ', 'g')), ''), translate(regexp_replace(u.email, '@[^@]*$', ''), "
             "'._+-', '    ')), '\\s+', ' ', 'g'))")
_S = _NAME_SRC
_NAME = (f"CASE WHEN coalesce({_S}, '') = '' THEN NULL ELSE jsonb_build_object("
         f"'formatted', {_S}, 'givenName', split_part({_S}, ' ', 1), 'familyName', "
         f"CASE WHEN strpos({_S}, ' ') > 0 THEN substr({_S}, strpos({_S}, ' ') + 1) "
         f"ELSE {_S} END) END")
USER_DOC = ("coalesce(u.scim_resource, jsonb_strip_nulls(jsonb_build_object("
            "'displayName', u.display_name, 'name', " + _NAME + ", 'emails', CASE WHEN "
            "u.email IS NULL THEN NULL ELSE "
            "jsonb_build_array(jsonb_build_object('value', u.email, 'primary', true)) END)))")

USER_COLUMNS = ("u.id, u.user_name, u.external_id, u.display_name, u.email, u.active, u.role,"
                " u.created_at, u.updated_at, u.scim_resource")
GROUP_COLUMNS = "t.id, t.name, t.external_id, t.created_at, t.updated_at"

# users.groups: the SCIM groups (scim_managed teams) of the user
USER_GROUPS_SQL = (
    "(SELECT coalesce(jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name)"
    " ORDER BY lower(g.name), g.id), '[]'::jsonb)"
    " FROM team_memberships gm JOIN teams g ON g.tenant_id = gm.tenant_id AND g.id = gm.team_id"
    " WHERE gm.tenant_id = {a}.tenant_id AND gm.user_id = {a}.id AND g.scim_managed)")
# groups.members: member user ids, oldest membership first
GROUP_MEMBERS_SQL = (
    "(SELECT coalesce(jsonb_agg(gm.user_id ORDER BY gm.created_at, gm.user_id), '[]'::jsonb)"
    " FROM team_memberships gm JOIN users mu ON mu.tenant_id = gm.tenant_id"
    " AND mu.id = gm.user_id"
    " WHERE gm.tenant_id = {a}.tenant_id AND gm.team_id = {a}.id"
    " AND mu.scim_deleted_at IS NULL)")


def _common_columns(alias: str, resource_type: str) -> dict[str, Col]:
    """The attributes every SCIM resource has (RFC 7643, section 3.1): id, externalId, meta."""
    return {
        "id": Col(f"{alias}.id", "uuid", nullable=False, unique=True),
        "externalid": Col(f"{alias}.external_id", "text", case_exact=True),
        "meta.created": Col(f"{alias}.created_at", "timestamp", nullable=False),
        "meta.lastmodified": Col(f"{alias}.updated_at", "timestamp", nullable=False),
        "meta.resourcetype": Col(f"'{resource_type}'::text", "const", nullable=False),
    }


# meta's parts that no column holds
_UNFILTERABLE = frozenset({"meta.location", "meta.version", "meta"})


@lru_cache(maxsize=512)
def user_target(lenient: bool = False, user: ResourceDef = USER) -> Target:
    """`user`: the tenant's User definition (with its custom attributes, app.scim.custom)."""
    return Target(
        user, USER_DOC,
        columns={
            **_common_columns("u", "User"),
            "username": Col("u.user_name_key", "text", case_exact=False, nullable=False,
                            lowered=True, unique=True),  # users_user_name_uq
            "active": Col("u.active", "bool", nullable=False),
        },
        relations={"groups": Rel(
            source=("FROM team_memberships {v}m JOIN teams {v}g ON {v}g.tenant_id = "
                    "{v}m.tenant_id AND {v}g.id = {v}m.team_id WHERE {v}m.tenant_id = "
                    "u.tenant_id AND {v}m.user_id = u.id AND {v}g.scim_managed"),
            cols={"value": Col("{v}g.id::text", "text", case_exact=True),
                  "display": Col("{v}g.name", "text", case_exact=False),
                  "type": Col("'direct'::text", "text", case_exact=False, nullable=False)},
            value_eq=("EXISTS (SELECT 1 FROM team_memberships fm JOIN teams fg ON fg.tenant_id ="
                      " fm.tenant_id AND fg.id = fm.team_id WHERE fm.tenant_id = u.tenant_id"
                      " AND fm.user_id = u.id AND fm.team_id = {p} AND fg.scim_managed)"),
        )},
        unfilterable=_UNFILTERABLE,
        lenient=lenient,
    )


@cache
def group_target(lenient: bool = False) -> Target:
    return Target(
        GROUP, None,
        columns={
            **_common_columns("t", "Group"),
            "displayname": Col("t.name_key", "text", case_exact=False, nullable=False,
                               lowered=True, unique=True),  # teams_name_uq
        },
        relations={"members": Rel(
            source=("FROM team_memberships {v}m WHERE {v}m.tenant_id = t.tenant_id AND "
                    "{v}m.team_id = t.id"),
            cols={"value": Col("{v}m.user_id::text", "text", case_exact=True),
                  "type": Col("'User'::text", "text", case_exact=False, nullable=False)},
            value_eq=("EXISTS (SELECT 1 FROM team_memberships fm WHERE fm.tenant_id ="
                      " t.tenant_id AND fm.team_id = t.id AND fm.user_id = {p})"),
        )},
        unfilterable=_UNFILTERABLE,
        lenient=lenient,
    )


@dataclass(frozen=True)
class Query:
    filter: Node | None
    sort_by: str | None
    descending: bool
    offset: int  # startIndex - 1
    limit: int  # count (0: totals only)


def _order(target: Target, q: Query, params: Params, alias: str) -> tuple[str, str | None]:
    """ORDER BY for the page, and the sort-key expression (None when sorting by creation)."""
    direction = "DESC" if q.descending else "ASC"
    if q.sort_by:
        expr, _ = sort_sql(q.sort_by, target, params)
        return f"{expr} {direction}, {alias}.created_at, {alias}.id", expr
    return f"{alias}.created_at {direction}, {alias}.id {direction}", None


def _one_row(target: Target, q: Query) -> bool:
    """Whether the page is at most one row without a sort or a count: the filter is `eq` on
    a unique attribute (`userName eq "..."`, what identity providers send before every
    create), from the first result on."""
    f = q.filter
    if q.offset != 0 or q.limit == 0 or not isinstance(f, Compare) or f.op != "eq":
        return False
    ref = resolve(target.rdef, f.path)
    col = target.columns.get(ref.dotted().lower()) if ref is not None and ref.leaf else None
    return col is not None and col.unique and f.value is not None


@dataclass(frozen=True)
class _Plan:
    """A page's statement: its SQL, the values of $2... ($1 is the tenant), and what it
    returns ("count": the total only; "one": at most one row, no total column; "page": rows
    with `_total`)."""

    sql: str
    values: tuple[Any, ...]
    shape: str


def _value_types(node: Node | None) -> tuple[type, ...]:
    """The types of a filter's values in order: part of the plan's cache key, because equal
    dataclasses may differ in them (`eq 1` == `eq true`, `eq 1` == `eq 1.0`)."""
    if isinstance(node, Compare):
        return (type(node.value),)
    if isinstance(node, And | Or):
        return _value_types(node.left) + _value_types(node.right)
    if isinstance(node, Not):
        return _value_types(node.expr)
    if isinstance(node, ValuePath):
        return _value_types(node.filter)
    return ()


def _plan(kind: str, q: Query, with_relations: bool, user: ResourceDef) -> _Plan:
    """The statement for a page (cached: a query, its definition and whether relations are
    wanted decide it all; an identity provider repeats the same `userName eq` lookups)."""
    return _cached_plan(kind, q, _value_types(q.filter), with_relations, user)


@lru_cache(maxsize=1024)
def _cached_plan(kind: str, q: Query, _types: tuple[type, ...], with_relations: bool,
                 user: ResourceDef) -> _Plan:
    target = user_target(False, user) if kind == "User" else group_target()
    alias, table = ("u", "users") if kind == "User" else ("t", "teams")
    # a user whose DELETE the breaker holds is gone for the identity provider (docs/scim.md)
    base = (f"u.scim_deleted_at IS NULL AND {NOT_HELD_DELETE}" if kind == "User"
            else "t.scim_managed")
    params = Params([None])  # $1: the tenant, bound per request
    where = f"{alias}.tenant_id = $1 AND {base}"
    if q.filter is not None:
        where += f" AND {where_sql(q.filter, target, params)}"
    if q.limit == 0:
        return _Plan(f"SELECT count(*) FROM {table} {alias} WHERE {where}",
                     tuple(params.values[1:]), "count")
    cols = USER_COLUMNS if kind == "User" else GROUP_COLUMNS
    rel_of = USER_GROUPS_SQL if kind == "User" else GROUP_MEMBERS_SQL
    if _one_row(target, q):
        rel = f", {rel_of.format(a=alias)} AS rel" if with_relations else ""
        return _Plan(f"SELECT {cols}{rel} FROM {table} {alias} WHERE {where}",
                     tuple(params.values[1:]), "one")
    order, sort_expr = _order(target, q, params, alias)
    rel_sql = rel_of.format(a="p")
    limit = params.add(q.limit)
    offset = params.add(q.offset)
    direction = "DESC" if q.descending else "ASC"
    if with_relations:
        sk = f", {sort_expr} AS _sk" if sort_expr else ""
        outer_order = (f"p._sk {direction}, p.created_at, p.id" if sort_expr
                       else f"p.created_at {direction}, p.id {direction}")
        sql = (f"SELECT p.*, {rel_sql} AS rel FROM (SELECT {cols}, {alias}.tenant_id,"
               f" count(*) OVER () AS _total{sk} FROM {table} {alias} WHERE {where}"
               f" ORDER BY {order} LIMIT {limit} OFFSET {offset}) p ORDER BY {outer_order}")
    else:
        sql = (f"SELECT {cols}, count(*) OVER () AS _total FROM {table} {alias}"
               f" WHERE {where} ORDER BY {order} LIMIT {limit} OFFSET {offset}")
    return _Plan(sql, tuple(params.values[1:]), "page")


async def page(tx: Tx, kind: str, q: Query, *, with_relations: bool,
               user: ResourceDef = USER) -> tuple[list[asyncpg.Record], int]:
    """One page of users (kind "User") or SCIM groups ("Group"), and the total."""
    plan = _plan(kind, q, with_relations, user)
    if plan.shape == "count":
        return [], int(await tx.fetchval(plan.sql, tx.tenant_id, *plan.values))
    rows = await tx.fetch(plan.sql, tx.tenant_id, *plan.values)
    if plan.shape == "one":
        return rows, len(rows)
    if rows:
        return rows, int(rows[0]["_total"])
    if q.offset == 0:
        return [], 0
    # past the last page: the window counted nothing, so count on its own
    count = _plan(kind, replace(q, limit=0), False, user)
    return [], int(await tx.fetchval(count.sql, tx.tenant_id, *count.values))


async def root_page(tx: Tx, q: Query, *, user: ResourceDef = USER
                    ) -> tuple[list[tuple[str, UUID]], int]:
    """A page across Users and Groups (POST /.search at the root): (kind, id) in order."""
    params = Params([tx.tenant_id])
    ut, gt = user_target(True, user), group_target(lenient=True)
    fu = where_sql(q.filter, ut, params) if q.filter is not None else "true"
    fg = where_sql(q.filter, gt, params) if q.filter is not None else "true"
    if q.sort_by:
        su, ku = sort_sql(q.sort_by, ut, params)
        sg, kg = sort_sql(q.sort_by, gt, params)
        if ku != kg:
            su, sg = f"({su})::text", f"({sg})::text"
    else:
        su = sg = "NULL::text"
    direction = "DESC" if q.descending else "ASC"
    union = (f"SELECT 'User' AS kind, u.id, {su} AS sk, u.created_at AS c FROM users u"
             f" WHERE u.tenant_id = $1 AND u.scim_deleted_at IS NULL AND {NOT_HELD_DELETE}"
             f" AND {fu}"
             f" UNION ALL SELECT 'Group', t.id, {sg}, t.created_at FROM teams t"
             f" WHERE t.tenant_id = $1 AND t.scim_managed AND {fg}")
    if q.limit == 0:
        total = await tx.fetchval(f"SELECT count(*) FROM ({union}) x", *params.values)
        return [], int(total)
    limit, offset = params.add(q.limit), params.add(q.offset)
    rows = await tx.fetch(
        f"SELECT x.kind, x.id, count(*) OVER () AS _total FROM ({union}) x"
        f" ORDER BY x.sk {direction}, x.c, x.kind DESC, x.id LIMIT {limit} OFFSET {offset}",
        *params.values)
    if rows:
        return [(r["kind"], r["id"]) for r in rows], int(rows[0]["_total"])
    if q.offset == 0:
        return [], 0
    total = await tx.fetchval(f"SELECT count(*) FROM ({union}) x", *params.values[:-2])
    return [], int(total)


async def users_by_ids(tx: Tx, ids: list[UUID], with_groups: bool) -> dict[UUID, Any]:
    rel = f", {USER_GROUPS_SQL.format(a='u')} AS rel" if with_groups else ""
    rows = await tx.fetch(f"SELECT {USER_COLUMNS}{rel} FROM users u WHERE u.id = ANY($1::uuid[])"
                          f" AND u.scim_deleted_at IS NULL AND {NOT_HELD_DELETE}", ids)
    return {r["id"]: r for r in rows}


async def groups_by_ids(tx: Tx, ids: list[UUID], with_members: bool) -> dict[UUID, Any]:
    rel = f", {GROUP_MEMBERS_SQL.format(a='t')} AS rel" if with_members else ""
    rows = await tx.fetch(f"SELECT {GROUP_COLUMNS}{rel} FROM teams t WHERE t.id = ANY($1::uuid[])"
                          " AND t.scim_managed", ids)
    return {r["id"]: r for r in rows}
