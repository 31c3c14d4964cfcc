"""The PATCH engine (RFC 7644 §3.5.2) over a canonical resource document.

Accepts what identity providers really send:
- op names in any case ("Replace"), booleans as strings ("True"), paths with value filters
  (`emails[type eq "work"].value`), URN-qualified paths and extension-URN paths;
- path-less add/replace whose value keys are attribute names, dotted sub-attributes
  (`name.givenName`) or URN-qualified names, or extension URNs holding objects;
- an add or replace through a filter that matches nothing adds a value built from the
  filter's `eq` terms (`emails[type eq "work"].value` -> {"type": "work", "value": ...});
- remove of a multi-valued attribute with a `value` list removes only those values (Entra);
- re-adding an existing value or removing an absent one succeeds;
- a path-less value carrying the resource's own `id` (Okta's group rename) is tolerated.

Group members never go through the document: the caller passes a `members` hook that turns
membership operations into SQL (no need to load a 50,000-member group to add one member).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.scim.attributes import Attr, AttrRef, ResourceDef, resolve
from app.scim.constants import URN_PATCH
from app.scim.errors import invalid_path, invalid_syntax, invalid_value, mutability, no_target
from app.scim.filter_syntax import And, Compare, Node, Not, Or, Present, ValuePath, parse_path
from app.scim.resource import coerce, coerce_one, set_at

MAX_OPERATIONS = 1000


@dataclass(frozen=True)
class Operation:
    op: str  # add | remove | replace
    path: str | None
    value: Any


# hook(op, filter, sub-attribute, value) for the `members` attribute of groups
MembersHook = Callable[[str, Node | None, Attr | None, Any], None]


def parse_operations(body: Any) -> list[Operation]:
    if not isinstance(body, dict):
        raise invalid_syntax("The PATCH body must be a JSON object with Operations.")
    lowered = {k.lower(): v for k, v in body.items() if isinstance(k, str)}
    schemas = lowered.get("schemas")
    if schemas is not None and (not isinstance(schemas, list)
                                or URN_PATCH.lower() not in (str(s).lower() for s in schemas)):
        raise invalid_syntax(f"schemas must be [\"{URN_PATCH}\"].")
    ops = lowered.get("operations")
    if not isinstance(ops, list) or not ops:
        raise invalid_syntax("Operations must be a non-empty list.")
    if len(ops) > MAX_OPERATIONS:
        raise invalid_syntax(f"At most {MAX_OPERATIONS} operations per PATCH.")
    out = []
    for i, raw in enumerate(ops, 1):
        if not isinstance(raw, dict):
            raise invalid_syntax(f"Operation {i} must be an object.")
        fields = {k.lower(): v for k, v in raw.items() if isinstance(k, str)}
        op = fields.get("op")
        if not isinstance(op, str) or op.lower() not in ("add", "remove", "replace"):
            raise invalid_syntax(f"Operation {i}: op must be add, remove or replace.")
        path = fields.get("path")
        if path is not None and not isinstance(path, str):
            raise invalid_path(f"Operation {i}: path must be a string.")
        if path is not None and not path.strip():
            path = None
        if op.lower() != "remove" and "value" not in fields:
            raise invalid_syntax(f"Operation {i}: {op.lower()} needs a value.")
        out.append(Operation(op.lower(), path, fields.get("value")))
    return out


class Patcher:
    def __init__(self, rdef: ResourceDef, doc: dict[str, Any], resource_id: str,
                 members: MembersHook | None = None) -> None:
        self.rdef = rdef
        self.doc = copy.deepcopy(doc)
        self.resource_id = resource_id
        self.members = members
        self.touched: set[str] = set()

    def apply(self, ops: list[Operation]) -> dict[str, Any]:
        for op in ops:
            self.one(op)
        return self.doc

    # ---- dispatch ----

    def one(self, op: Operation) -> None:
        if op.path is None:
            if op.op == "remove":
                raise no_target("remove needs a path.")
            if not isinstance(op.value, dict):
                raise invalid_value(f"{op.op} without a path needs an object whose keys are "
                                    "attribute names.")
            for key, value in op.value.items():
                self.pathless(op.op, key, value)
            return
        pp = parse_path(op.path)
        ref = resolve(self.rdef, pp.attr)
        if ref is None:
            raise invalid_path(f"Unknown attribute {pp.attr!r} in path {op.path!r}.")
        if pp.sub is not None:
            if ref.attr is None or ref.sub is not None:
                raise invalid_path(f"Invalid path {op.path!r}.")
            sub = ref.attr.child(pp.sub)
            if sub is None:
                raise invalid_path(f"{ref.attr.name} has no sub-attribute {pp.sub!r}.")
            ref = AttrRef(ref.schema, ref.attr, sub)
        self.at(op.op, ref, pp.filter, op.value, op.path)

    def pathless(self, op: str, key: Any, value: Any) -> None:
        if not isinstance(key, str):
            return
        low = key.lower()
        if low in ("schemas", "meta", "groups"):
            return
        if low == "id":
            if value is not None and str(value) != self.resource_id:
                raise mutability("id is read-only.")
            return
        ext = self.rdef.schema_for_urn(key)
        if ext is not None and ext is not self.rdef.core:
            if not isinstance(value, dict):
                raise invalid_value(f"{ext.id} must be an object.")
            for sub_key, sub_value in value.items():
                attr = ext.attr(sub_key) if isinstance(sub_key, str) else None
                if attr is not None:
                    self.at(op, AttrRef(ext, attr), None, sub_value, f"{ext.id}:{attr.name}")
            return
        ref = resolve(self.rdef, key)
        if ref is None:
            return  # unknown attributes are ignored
        self.at(op, ref, None, value, key)

    # ---- the operation at one attribute ----

    def at(self, op: str, ref: AttrRef, flt: Node | None, value: Any, where: str) -> None:
        if ref.attr is None:  # the whole extension
            if ref.schema is None:
                raise RuntimeError("expected ref.schema is not None")
            if op == "remove":
                self.doc.pop(ref.schema.id, None)
                self.touched.add(ref.schema.id)
                return
            if not isinstance(value, dict):
                raise invalid_value(f"{ref.schema.id} must be an object.")
            for key, sub_value in value.items():
                attr = ref.schema.attr(key) if isinstance(key, str) else None
                if attr is not None:
                    self.at(op, AttrRef(ref.schema, attr), None, sub_value, f"{where}:{key}")
            return
        attr = ref.attr
        leaf = ref.sub or attr
        if attr.read_only or leaf.read_only:
            raise mutability(f"{ref.dotted()} is read-only.")
        self.touched.add(attr.name if not ref.extension else ref.extension)
        if self.members is not None and attr.name == "members" and not ref.extension:
            self.members(op, flt, ref.sub, value)
            return
        if leaf.mutability == "writeOnly":
            return  # password: accepted, never stored
        container = self.doc.get(ref.extension, {}) if ref.extension else self.doc
        if not isinstance(container, dict):
            container = {}
        if flt is not None:
            self.filtered(op, ref, flt, value, container, where)
        elif ref.sub is not None:
            self.sub_attribute(op, ref, value, container, where)
        elif attr.multi:
            self.multi(op, ref, value, container, where)
        elif op == "remove":
            set_at(self.doc, ref, None)
        elif attr.type == "complex":
            new = coerce(attr, value, where)
            if new is None:
                if op == "replace":
                    set_at(self.doc, ref, None)
                return
            merged = dict(container.get(attr.name) or {})
            merged.update(new)
            set_at(self.doc, ref, merged)
        else:
            set_at(self.doc, ref, coerce(attr, value, where))

    def multi(self, op: str, ref: AttrRef, value: Any, container: dict[str, Any],
              where: str) -> None:
        attr = ref.attr
        if attr is None:
            raise RuntimeError("expected attr is not None")
        current = list(container.get(attr.name) or [])
        if op == "remove":
            if value is None:
                set_at(self.doc, ref, None)
                return
            gone = coerce(attr, value, where) or []
            keep = [item for item in current if not any(_same(item, g) for g in gone)]
            set_at(self.doc, ref, keep or None)
            return
        new = coerce(attr, value, where) or []
        if op == "replace":
            set_at(self.doc, ref, new or None)
            return
        added = [item for item in new if item not in current]
        if added and attr.type == "complex" and any(i.get("primary") is True for i in added):
            for item in current:
                if item.get("primary") is True:
                    item["primary"] = False
        set_at(self.doc, ref, (current + added) or None)

    def sub_attribute(self, op: str, ref: AttrRef, value: Any, container: dict[str, Any],
                      where: str) -> None:
        attr, sub = ref.attr, ref.sub
        if attr is None:
            raise RuntimeError("expected attr is not None")
        if sub is None:
            raise RuntimeError("expected sub is not None")
        if not attr.multi:
            set_at(self.doc, ref, None if op == "remove" else coerce(sub, value, where))
            return
        items = [dict(i) for i in container.get(attr.name) or []]
        if op == "remove":
            for item in items:
                item.pop(sub.name, None)
            set_at(self.doc, AttrRef(ref.schema, attr), [i for i in items if i] or None)
            return
        new = coerce(sub, value, where)
        if len(items) > 1:
            raise invalid_path(f"{where} is ambiguous: {attr.name} has several values; select "
                               f"one with a filter such as {attr.name}[type eq \"work\"].")
        if not items:
            items = [{}]
        if new is None:
            items[0].pop(sub.name, None)
        else:
            items[0][sub.name] = new
        set_at(self.doc, AttrRef(ref.schema, attr), [i for i in items if i] or None)

    def filtered(self, op: str, ref: AttrRef, flt: Node, value: Any,
                 container: dict[str, Any], where: str) -> None:
        attr, sub = ref.attr, ref.sub
        if attr is None:
            raise RuntimeError("expected attr is not None")
        if not attr.multi or attr.type != "complex":
            raise invalid_path(f"{where}: a value filter needs a multi-valued complex attribute.")
        items = [dict(i) for i in container.get(attr.name) or []]
        matched = [i for i, item in enumerate(items) if matches(flt, item, attr)]
        whole = AttrRef(ref.schema, attr)
        if op == "remove":
            if sub is not None:
                for i in matched:
                    items[i].pop(sub.name, None)
                items = [item for item in items if item]
            else:
                items = [item for i, item in enumerate(items) if i not in matched]
            set_at(self.doc, whole, items or None)
            return
        if sub is not None:
            new_value = coerce(sub, value, where)
        else:
            new_value = coerce_one(attr, value[0] if isinstance(value, list) and len(value) == 1
                                   else value, where)
        if not matched:
            base = eq_terms(flt, attr, where)
            if sub is not None:
                if new_value is not None:
                    base[sub.name] = new_value
            elif new_value:
                base.update(new_value)
            items.append(base)
            matched = [len(items) - 1]
        else:
            for i in matched:
                if sub is not None:
                    if new_value is None:
                        items[i].pop(sub.name, None)
                    else:
                        items[i][sub.name] = new_value
                elif op == "replace":
                    items[i] = dict(new_value or {})
                else:
                    items[i].update(new_value or {})
        if any(items[i].get("primary") is True for i in matched):
            for i, item in enumerate(items):
                if i not in matched and item.get("primary") is True:
                    item["primary"] = False
        set_at(self.doc, whole, [item for item in items if item] or None)


def _same(item: Any, gone: Any) -> bool:
    if isinstance(item, dict) and isinstance(gone, dict) and "value" in gone:
        return bool(item.get("value") == gone["value"])
    return bool(item == gone)


def eq_terms(flt: Node, attr: Attr, where: str) -> dict[str, Any]:
    """The value a filter with no match describes: `type eq "work" and primary eq true`."""
    out: dict[str, Any] = {}

    def walk(node: Node) -> None:
        if isinstance(node, And):
            walk(node.left)
            walk(node.right)
        elif isinstance(node, Compare) and node.op == "eq" and node.value is not None:
            sub = attr.child(node.path.rsplit(".", 1)[-1])
            if sub is None:
                raise invalid_path(f"{attr.name} has no sub-attribute {node.path!r}.")
            out[sub.name] = coerce_one(sub, node.value, f"{attr.name}.{sub.name}")
        else:
            raise no_target(f"{where} matches no value, and its filter does not describe one "
                            "to add (only 'eq' terms joined by 'and' can).")

    walk(flt)
    return out


# ---- evaluating a value filter against one value of one resource ----

def matches(node: Node, item: dict[str, Any], parent: Attr) -> bool:
    if isinstance(node, And):
        return matches(node.left, item, parent) and matches(node.right, item, parent)
    if isinstance(node, Or):
        return matches(node.left, item, parent) or matches(node.right, item, parent)
    if isinstance(node, Not):
        return not matches(node.expr, item, parent)
    if isinstance(node, ValuePath):
        raise invalid_path("Value filters cannot be nested.")
    sub = parent.child(node.path.rsplit(".", 1)[-1])
    if sub is None:
        raise invalid_path(f"{parent.name} has no sub-attribute {node.path!r}.")
    actual = item.get(sub.name)
    if isinstance(node, Present):
        return actual not in (None, "", [], {})
    return compare_value(sub, actual, node.op, node.value)


def compare_value(attr: Attr, actual: Any, op: str, expected: Any) -> bool:
    if expected is None:
        present = actual not in (None, "", [], {})
        return not present if op == "eq" else present if op == "ne" else False
    if actual is None:
        return op == "ne"
    if attr.type == "boolean":
        if not isinstance(expected, bool):
            raise invalid_path(f"{attr.name} is a boolean: compare it with true or false.")
        if isinstance(actual, str):
            actual = actual.lower() == "true"
        return (actual == expected) if op == "eq" else (actual != expected) if op == "ne" \
            else False
    if attr.type in ("integer", "decimal"):
        if not isinstance(actual, int | float) or not isinstance(expected, int | float):
            return op == "ne"
        return _order(actual, expected, op)
    if attr.type == "dateTime" and op in ("eq", "ne", "gt", "ge", "lt", "le"):
        try:
            a = datetime.fromisoformat(str(actual).replace("Z", "+00:00"))
            e = datetime.fromisoformat(str(expected).replace("Z", "+00:00"))
        except ValueError:
            return op == "ne"
        return _order(a, e, op)
    a_text, e_text = str(actual), str(expected)
    if not attr.case_exact:
        a_text, e_text = a_text.lower(), e_text.lower()
    if op == "co":
        return e_text in a_text
    if op == "sw":
        return a_text.startswith(e_text)
    if op == "ew":
        return a_text.endswith(e_text)
    return _order(a_text, e_text, op)


def _order(a: Any, b: Any, op: str) -> bool:
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    if op == "gt":
        return bool(a > b)
    if op == "ge":
        return bool(a >= b)
    if op == "lt":
        return bool(a < b)
    if op == "le":
        return bool(a <= b)
    return False
