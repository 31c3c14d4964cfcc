"""SCIM filters and sortBy translated to parameterised SQL (never evaluated in Python).

Every value from the request is a bound parameter ($n). What is inlined is produced here from
the attribute definitions (canonical attribute names and schema URNs, checked against a strict
pattern) and fixed SQL fragments.

Semantics (RFC 7644 §3.4.2.2):
- attribute names and operators are case-insensitive; strings compare case-insensitively
  unless the attribute is caseExact;
- a comparison on a multi-valued attribute matches if any value matches; `emails eq "x"` means
  `emails.value eq "x"`; `emails[type eq "work" and value co "@x"]` needs one value to match both;
- `pr` is true for a value that is present and neither null, "" , [] nor {};
- `eq null` means "not present", `ne null` means "present";
- gt/ge/lt/le order strings (lower-cased unless caseExact), numbers and dateTimes; booleans
  and complex attributes only support eq/ne/pr; a bad combination is a 400 invalidFilter.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.core.emails import canonical_address
from app.core.keyset import Params
from app.scim.attributes import Attr, AttrRef, ResourceDef, resolve
from app.scim.constants import URN_CUSTOM
from app.scim.custom import filter_value
from app.scim.errors import invalid_filter, invalid_value
from app.scim.filter_syntax import And, Compare, Node, Not, Or, Present, ValuePath

_SAFE_KEY = re.compile(r"^[A-Za-z$][A-Za-z0-9:._$-]*$")
_ORDERING = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def lit(key: str) -> str:
    """A JSON key from our own definitions, as an SQL string literal."""
    if not _SAFE_KEY.match(key):
        raise ValueError(f"unsafe key {key!r}")
    return "'" + key + "'"


@dataclass(frozen=True)
class Col:
    """A typed SQL value: kind is text, uuid, bool or timestamp. `lowered`: the column already
    holds lower(value) (users.user_name_key), so only the parameter is lower-cased and an index
    on it can serve the comparison under row-level security."""

    sql: str
    kind: str = "text"
    case_exact: bool = True
    nullable: bool = True
    lowered: bool = False
    unique: bool = False  # at most one row of the tenant has a given value (a unique index)


@dataclass(frozen=True)
class Json:
    """A value inside a jsonb document: base->'k1'->'k2'."""

    base: str
    keys: tuple[str, ...]

    @property
    def json(self) -> str:
        return self.base + "".join(f"->{lit(k)}" for k in self.keys)

    @property
    def text(self) -> str:
        if not self.keys:
            return f"({self.base} #>> '{{}}')"
        head = self.base + "".join(f"->{lit(k)}" for k in self.keys[:-1])
        return f"({head}->>{lit(self.keys[-1])})"


@dataclass(frozen=True)
class Rel:
    """A multi-valued attribute kept in other tables: `source` is a FROM ... WHERE ... fragment
    (correlated with the outer row) whose rows are the values; `cols` maps sub-attributes."""

    source: str
    cols: dict[str, Col]
    # fast path for `<attr>.value eq "<uuid>"`: SQL with one `{p}` placeholder for the uuid
    value_eq: str | None = None


@dataclass
class Target:
    rdef: ResourceDef
    doc: str | None  # the jsonb document holding the schema attributes
    columns: dict[str, Col] = field(default_factory=dict)  # "username", "meta.created", ...
    relations: dict[str, Rel] = field(default_factory=dict)  # "groups", "members"
    unfilterable: frozenset[str] = frozenset()
    lenient: bool = False  # root search: an attribute this type lacks is simply false


# Attributes stored in canonical address form: an eq/ne filter compares in that form too, so
# `userName eq "user@exämple.com"` finds the user stored as user@xn--exmple-cua.com.
_ADDRESSES = frozenset({"username", "emails.value"})


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _dt(value: Any, where: str) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise invalid_filter(f"{where} compares a dateTime: give an ISO 8601 date and time such "
                         'as "2026-01-31T12:00:00Z".')


class _Translator:
    def __init__(self, target: Target, params: Params) -> None:
        self.t = target
        self.p = params
        self.n = 0

    def alias(self) -> str:
        self.n += 1
        return f"v{self.n}"

    # ---- nodes ----

    def node(self, node: Node, neg: bool) -> str:
        if isinstance(node, And):
            return f"({self.node(node.left, neg)} AND {self.node(node.right, neg)})"
        if isinstance(node, Or):
            return f"({self.node(node.left, neg)} OR {self.node(node.right, neg)})"
        if isinstance(node, Not):
            return f"(NOT {self.node(node.expr, True)})"
        if isinstance(node, ValuePath):
            return self.value_path(node, neg)
        return self.leaf(node, neg)

    def _resolve(self, path: str) -> AttrRef | None:
        ref = resolve(self.t.rdef, path)
        if ref is None and not self.t.lenient:
            raise invalid_filter(f"Unknown attribute {path!r} in the filter.")
        if ref is not None and ref.leaf is not None:
            key = ref.dotted().lower()
            if key in self.t.unfilterable or ref.leaf.returned == "never":
                raise invalid_filter(f"{ref.dotted()} cannot be used in a filter.")
        return ref

    def leaf(self, node: Compare | Present, neg: bool) -> str:
        ref = self._resolve(node.path)
        if ref is None:
            return "false"
        if ref.attr is None:  # a whole extension: only `pr`
            if isinstance(node, Present) or (node.op in ("eq", "ne") and node.value is None):
                if self.t.doc is None:
                    raise RuntimeError("expected self.t.doc is not None")
                present = f"({self.t.doc} ? {self.p.add(ref.extension)})"
                if isinstance(node, Compare) and node.op == "eq":
                    return f"(NOT {present})"
                return present
            raise invalid_filter(f"{node.path} is a schema extension: only 'pr' applies to it.")
        if ref.extension == URN_CUSTOM:
            return self.custom(ref.attr, node, ref.dotted())
        key = ref.dotted().lower()
        col = self.t.columns.get(key)
        if col is not None:
            if ref.leaf is None:
                raise RuntimeError("expected ref.leaf is not None")
            return self.compare_col(col, ref.leaf, node, neg, ref.dotted())
        attr = ref.attr
        rel = self.t.relations.get(attr.name.lower()) if ref.extension is None else None
        if rel is not None:
            return self.relation(rel, attr, ref.sub, node, neg)
        if self.t.doc is None:
            raise RuntimeError("expected self.t.doc is not None")
        container = (Json(self.t.doc, (ref.extension,)) if ref.extension
                     else Json(self.t.doc, ()))
        if not attr.multi:
            if ref.sub is not None:
                return self.compare_json(Json(container.base, (*container.keys, attr.name,
                                                               ref.sub.name)),
                                         ref.sub, node, neg, ref.dotted())
            return self.compare_json(Json(container.base, (*container.keys, attr.name)), attr,
                                     node, neg, ref.dotted())
        array = Json(container.base, (*container.keys, attr.name))
        if isinstance(node, Present) and ref.sub is None:
            return (f"(jsonb_typeof({array.json}) = 'array' AND "
                    f"jsonb_array_length({array.json}) > 0)")
        if isinstance(node, Compare) and node.value is None and ref.sub is None:
            present = (f"(jsonb_typeof({array.json}) = 'array' AND "
                       f"jsonb_array_length({array.json}) > 0)")
            return present if node.op == "ne" else f"(NOT coalesce({present}, false))"
        v = self.alias()
        if attr.type == "complex":
            sub = ref.sub or attr.child("value")
            if sub is None:
                raise invalid_filter(f"{ref.dotted()} has no 'value': name a sub-attribute.")
            cond = self.compare_json(Json(f"{v}.e", (sub.name,)), sub, node, False,
                                     f"{attr.name}.{sub.name}")
        else:
            cond = self.compare_json(Json(f"{v}.e", ()), attr, node, False, attr.name)
        return f"EXISTS (SELECT 1 FROM {self.elements(array)} AS {v}(e) WHERE {cond})"

    def custom(self, attr: Attr, node: Compare | Present, where: str) -> str:
        """A tenant's custom attribute: looked up in its filter index (scim_custom_values,
        whose `value_key = $n` an index serves under row-level security); eq, co, sw, pr."""
        rows = ("FROM scim_custom_values cv WHERE cv.tenant_id = u.tenant_id AND cv.user_id ="
                f" u.id AND cv.name_key = {self.p.add(attr.name.lower())}")
        if isinstance(node, Present):
            return f"EXISTS (SELECT 1 {rows})"
        if node.value is None:
            return self._null_compare(f"EXISTS (SELECT 1 {rows})", node)
        value = filter_value(attr, node.op, node.value, where)
        lowered = attr.type == "string" and not attr.case_exact
        if node.op == "eq":
            rhs = self.p.add(value)
            cond = f"cv.value_key = {f'lower({rhs})' if lowered else rhs}"
        else:
            pattern = _escape_like(value)
            rhs = self.p.add(f"%{pattern}%" if node.op == "co" else f"{pattern}%")
            cond = f"cv.value_key LIKE {f'lower({rhs})' if lowered else rhs}"
        return f"EXISTS (SELECT 1 {rows} AND {cond})"

    @staticmethod
    def elements(array: Json) -> str:
        return (f"jsonb_array_elements(CASE WHEN jsonb_typeof({array.json}) = 'array' "
                f"THEN {array.json} END)")

    def value_path(self, node: ValuePath, neg: bool) -> str:
        ref = self._resolve(node.path)
        if ref is None:
            return "false"
        attr = ref.attr
        if attr is None or ref.sub is not None or not attr.multi or attr.type != "complex":
            raise invalid_filter(f"{node.path}[...] needs a multi-valued complex attribute.")
        rel = self.t.relations.get(attr.name.lower()) if ref.extension is None else None
        if rel is not None:
            v = self.alias()
            cond = self.inner(node.filter, attr, lambda s: self._rel_col(rel, s, attr), False)
            return (f"EXISTS (SELECT 1 {rel.source.replace('{v}', v)} AND "
                    f"{cond.replace('{v}', v)})")
        if self.t.doc is None:
            raise RuntimeError("expected self.t.doc is not None")
        base = Json(self.t.doc, (ref.extension,) if ref.extension else ())
        array = Json(base.base, (*base.keys, attr.name))
        v = self.alias()
        cond = self.inner(node.filter, attr, lambda s: Json(f"{v}.e", (s.name,)), False)
        return f"EXISTS (SELECT 1 FROM {self.elements(array)} AS {v}(e) WHERE {cond})"

    def inner(self, node: Node, parent: Attr, value_of: Any, neg: bool) -> str:
        """A filter inside brackets: its paths are sub-attributes of `parent`."""
        if isinstance(node, And):
            return (f"({self.inner(node.left, parent, value_of, neg)} AND "
                    f"{self.inner(node.right, parent, value_of, neg)})")
        if isinstance(node, Or):
            return (f"({self.inner(node.left, parent, value_of, neg)} OR "
                    f"{self.inner(node.right, parent, value_of, neg)})")
        if isinstance(node, Not):
            return f"(NOT {self.inner(node.expr, parent, value_of, True)})"
        if isinstance(node, ValuePath):
            raise invalid_filter("Value filters cannot be nested.")
        name = node.path
        if "." in name or ":" in name:  # `emails[emails.type eq "work"]` (lenient)
            name = name.rsplit(".", 1)[-1]
        sub = parent.child(name)
        if sub is None:
            raise invalid_filter(f"{parent.name} has no sub-attribute {node.path!r}.")
        target = value_of(sub)
        where = f"{parent.name}.{sub.name}"
        if isinstance(target, Col):
            return self.compare_col(target, sub, node, neg, where)
        return self.compare_json(target, sub, node, neg, where)

    def _rel_col(self, rel: Rel, sub: Attr, parent: Attr) -> Col:
        col = rel.cols.get(sub.name.lower())
        if col is None:
            raise invalid_filter(f"{parent.name}.{sub.name} cannot be used in a filter.")
        return col

    def relation(self, rel: Rel, attr: Attr, sub: Attr | None, node: Compare | Present,
                 neg: bool) -> str:
        v = self.alias()
        if isinstance(node, Present) and sub is None:
            return f"EXISTS (SELECT 1 {rel.source.replace('{v}', v)})"
        sub = sub or attr.child("value")
        if sub is None:
            raise RuntimeError("expected sub is not None")
        if (isinstance(node, Compare) and node.op == "eq" and sub.name == "value"
                and rel.value_eq is not None and isinstance(node.value, str)):
            try:
                uid = uuid.UUID(node.value)
            except ValueError:
                return "false"
            return rel.value_eq.replace("{p}", self.p.add(uid))
        col = self._rel_col(rel, sub, attr)
        cond = self.compare_col(col, sub, node, False, f"{attr.name}.{sub.name}")
        return (f"EXISTS (SELECT 1 {rel.source.replace('{v}', v)} AND "
                f"{cond.replace('{v}', v)})")

    # ---- comparisons ----

    def _null_compare(self, present: str, node: Compare) -> str:
        if node.op == "eq":
            return f"(NOT {present})"
        if node.op == "ne":
            return present
        raise invalid_filter(f"null can only be compared with eq or ne ({node.path}).")

    def compare_json(self, j: Json, attr: Attr, node: Compare | Present, neg: bool,
                     where: str) -> str:
        present = (f"coalesce(jsonb_typeof({j.json}) NOT IN ('null') AND {j.json} NOT IN "
                   "('\"\"'::jsonb, '[]'::jsonb, '{}'::jsonb), false)")
        if isinstance(node, Present):
            return present
        if node.value is None:
            return self._null_compare(present, node)
        kind = {"boolean": "bool", "integer": "numeric", "decimal": "numeric",
                "dateTime": "timestamp", "complex": "complex"}.get(attr.type, "text")
        if kind == "bool":
            return self._compare(Col(j.text, "booltext"), attr, node, neg, where)
        if kind == "numeric":
            sql = (f"(CASE WHEN jsonb_typeof({j.json}) = 'number' "
                   f"THEN ({j.text})::numeric END)")
            return self._compare(Col(sql, "numeric"), attr, node, neg, where)
        if kind == "timestamp" and node.op not in ("co", "sw", "ew"):
            return self._compare(Col(f"({j.text})::timestamptz", "timestamp"), attr, node, neg,
                                 where)
        if kind == "complex":
            raise invalid_filter(f"{where} is complex: compare one of its sub-attributes.")
        return self._compare(Col(j.text, "text", case_exact=attr.case_exact), attr, node, neg,
                             where)

    def compare_col(self, col: Col, attr: Attr, node: Compare | Present, neg: bool,
                    where: str) -> str:
        if isinstance(node, Present):
            if col.kind == "text":
                return f"coalesce({col.sql} <> '', false)"
            return f"({col.sql} IS NOT NULL)"
        if node.value is None:
            return self._null_compare(f"({col.sql} IS NOT NULL)", node)
        return self._compare(col, attr, node, neg, where)

    def _compare(self, col: Col, attr: Attr, node: Compare, neg: bool, where: str) -> str:
        op, value = node.op, node.value
        if col.kind in ("bool", "booltext"):
            if not isinstance(value, bool):
                raise invalid_filter(f"{where} is a boolean: compare it with true or false.")
            if op not in ("eq", "ne"):
                raise invalid_filter(f"{where} is a boolean: only eq, ne and pr apply.")
            rhs = self.p.add(value) if col.kind == "bool" else self.p.add(
                "true" if value else "false")
            if op == "ne":
                return f"({col.sql} IS DISTINCT FROM {rhs})"
            return self._wrap(f"({col.sql} = {rhs})", neg, col)
        if col.kind == "numeric":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise invalid_filter(f"{where} is a number: compare it with a number.")
            if op in ("co", "sw", "ew"):
                raise invalid_filter(f"{where} is a number: {op} does not apply.")
            rhs = f"{self.p.add(str(value))}::numeric"
            return self._simple(col.sql, op, rhs, neg, col)
        if col.kind == "timestamp":
            rhs = f"{self.p.add(_dt(value, where))}::timestamptz"
            if op in ("co", "sw", "ew"):
                raise invalid_filter(f"{where} is a dateTime: {op} does not apply.")
            return self._simple(col.sql, op, rhs, neg, col)
        if col.kind == "uuid":
            if not isinstance(value, str):
                raise invalid_filter(f"{where} is a string: compare it with a \"string\".")
            if op in ("eq", "ne"):
                try:
                    uid: uuid.UUID | None = uuid.UUID(value)
                except ValueError:
                    uid = None
                if uid is None:
                    return "true" if op == "ne" else "false"
                rhs = self.p.add(uid)
                if op == "ne":
                    return f"({col.sql} IS DISTINCT FROM {rhs})"
                return self._wrap(f"({col.sql} = {rhs})", neg, col)
            return self._text(Col(f"{col.sql}::text", "text", True, col.nullable), op, value,
                              neg, where)
        if col.kind == "const":
            if not isinstance(value, str):
                raise invalid_filter(f"{where} is a string: compare it with a \"string\".")
            return self._text(col, op, value, neg, where)
        if not isinstance(value, str):
            raise invalid_filter(f"{where} is a string: compare it with a \"string\".")
        return self._text(col, op, value, neg, where)

    def _text(self, col: Col, op: str, value: str, neg: bool, where: str) -> str:
        lhs = col.sql if col.case_exact or col.lowered else f"lower({col.sql})"
        if op in ("co", "sw", "ew"):
            pattern = _escape_like(value)
            pattern = {"co": f"%{pattern}%", "sw": f"{pattern}%", "ew": f"%{pattern}"}[op]
            rhs = self.p.add(pattern)
            rhs = rhs if col.case_exact else f"lower({rhs})"
            return self._wrap(f"({lhs} LIKE {rhs})", neg, col)
        if op in ("eq", "ne") and where.rsplit(":", 1)[-1].lower() in _ADDRESSES:
            value = canonical_address(value)  # stored that way (app.scim.service.users)
        rhs = self.p.add(value)
        rhs = rhs if col.case_exact else f"lower({rhs})"
        return self._simple(lhs, op, rhs, neg, col)

    def _simple(self, lhs: str, op: str, rhs: str, neg: bool, col: Col) -> str:
        if op == "eq":
            return self._wrap(f"({lhs} = {rhs})", neg, col)
        if op == "ne":
            return f"({lhs} IS DISTINCT FROM {rhs})"
        if op in _ORDERING:
            return self._wrap(f"({lhs} {_ORDERING[op]} {rhs})", neg, col)
        raise invalid_filter(f"The operator {op} does not apply here.")

    @staticmethod
    def _wrap(sql: str, neg: bool, col: Col) -> str:
        # Under NOT, a NULL must count as false (SQL's NOT NULL is NULL, not true).
        return f"coalesce({sql}, false)" if neg and col.nullable else sql


def where_sql(node: Node, target: Target, params: Params) -> str:
    return _Translator(target, params).node(node, False)


# ---- sorting ----

def sort_sql(path: str, target: Target, params: Params) -> tuple[str, str]:
    """An ORDER BY expression for sortBy, and its kind (text/timestamp/numeric/bool/uuid).

    Multi-valued attributes sort by their primary value, else their first; missing values sort
    last ascending and first descending (PostgreSQL's default NULLS placement)."""
    ref = resolve(target.rdef, path)
    if ref is None or ref.attr is None:
        if target.lenient:
            return "NULL::text", "text"
        raise invalid_value(f"sortBy: unknown attribute {path!r}.")
    leaf = ref.leaf
    if leaf is None:
        raise RuntimeError("expected leaf is not None")
    if leaf.returned == "never":
        raise invalid_value(f"sortBy: {ref.dotted()} cannot be sorted on.")
    key = ref.dotted().lower()
    col = target.columns.get(key)
    if col is not None:
        if col.kind == "text" and not col.case_exact and not col.lowered:
            return f"lower({col.sql})", "text"
        return col.sql, col.kind
    attr = ref.attr
    rel = target.relations.get(attr.name.lower()) if ref.extension is None else None
    if rel is not None:
        sub = ref.sub or attr.child("value")
        if sub is None:
            raise RuntimeError("expected sub is not None")
        rc = rel.cols.get(sub.name.lower())
        if rc is None:
            raise invalid_value(f"sortBy: {ref.dotted()} cannot be sorted on.")
        expr = rc.sql if rc.case_exact else f"lower({rc.sql})"
        return f"(SELECT min({expr}) {rel.source.replace('{v}', 'sv')})", "text"
    if target.doc is None:
        raise RuntimeError("expected target.doc is not None")
    base = Json(target.doc, (ref.extension,) if ref.extension else ())
    if attr.multi:
        sub = ref.sub or (attr.child("value") if attr.type == "complex" else None)
        if attr.type == "complex" and sub is None:
            raise invalid_value(f"sortBy: name a sub-attribute of {attr.name}.")
        array = Json(base.base, (*base.keys, attr.name))
        elem = Json("se.e", (sub.name,) if sub else ())
        leaf = sub or attr
        value = _typed(elem, leaf)
        return (f"(SELECT {value[0]} FROM {_Translator.elements(array)} WITH ORDINALITY "
                f"AS se(e, n) ORDER BY coalesce(se.e->'primary' = 'true'::jsonb, false) DESC, "
                f"se.n LIMIT 1)", value[1])
    j = Json(base.base, (*base.keys, attr.name, *((ref.sub.name,) if ref.sub else ())))
    if leaf.type == "complex":
        raise invalid_value(f"sortBy: name a sub-attribute of {attr.name}.")
    return _typed(j, leaf)


def _typed(j: Json, attr: Attr) -> tuple[str, str]:
    if attr.type in ("integer", "decimal"):
        return (f"(CASE WHEN jsonb_typeof({j.json}) = 'number' THEN ({j.text})::numeric END)",
                "numeric")
    if attr.type == "dateTime":
        return f"({j.text})::timestamptz", "timestamp"
    if attr.type == "boolean":
        return f"({j.text})::boolean", "bool"
    if attr.case_exact:
        return j.text, "text"
    return f"lower({j.text})", "text"
