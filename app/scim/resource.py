"""Reading SCIM input: canonical attribute names (matched case-insensitively), values checked
and coerced per attribute type, read-only and unknown attributes dropped, null / "" -free
empties treated as unassigned. Values are otherwise kept exactly as sent.

Coercions are the lenient ones identity providers need: "True"/"false" for booleans (Entra),
a number for a string attribute (employeeNumber 1234), a bare string for a complex attribute
that has a `value` (Entra sends the manager's id that way), a single object for a multi-valued
attribute."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.scim.attributes import Attr, AttrRef, ResourceDef, resolve
from app.scim.errors import invalid_syntax, invalid_value

MAX_STRING = 65_536


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True


def coerce(attr: Attr, value: Any, where: str) -> Any:
    """`value` checked against `attr` (multi-valued aware); None means unassigned."""
    if value is None:
        return None
    if attr.multi:
        items = value if isinstance(value, list) else [value]
        out: list[Any] = []
        for item in items:
            v = coerce_one(attr, item, where)
            if v is not None:
                out.append(v)
        if not out:
            return None
        if attr.type == "complex" and sum(1 for v in out if v.get("primary") is True) > 1:
            raise invalid_value(f"{where}: at most one value may be primary.")
        return out
    if isinstance(value, list):
        if len(value) == 1 and attr.type == "complex":  # Entra: manager as [{"value": id}]
            value = value[0]
        else:
            raise invalid_value(f"{where} is single-valued; got a list.")
    return coerce_one(attr, value, where)


def coerce_one(attr: Attr, value: Any, where: str) -> Any:
    if value is None:
        return None
    t = attr.type
    if t == "complex":
        if not isinstance(value, dict):
            if not attr.multi and attr.child("value") is not None \
                    and isinstance(value, str | int | float) and not isinstance(value, bool):
                value = {"value": value}
            else:
                raise invalid_value(f"{where} must be an object.")
        out: dict[str, Any] = {}
        for key, sub_value in value.items():
            sub = attr.child(key) if isinstance(key, str) else None
            if sub is None or sub.read_only:
                continue
            v = coerce_one(sub, sub_value, f"{where}.{sub.name}")
            if v is not None:
                out[sub.name] = v
        return out or None
    if t in ("string", "reference", "binary"):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise invalid_value(f"{where} must be a string.")
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_STRING:
            raise invalid_value(f"{where} is longer than {MAX_STRING} characters.")
        if "\x00" in text:
            raise invalid_value(f"{where} contains a NUL character.")
        return text
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise invalid_value(f"{where} must be true or false.")
    if t == "integer":
        if isinstance(value, bool):
            raise invalid_value(f"{where} must be an integer.")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise invalid_value(f"{where} must be an integer.")
    if t == "decimal":
        if isinstance(value, bool):
            raise invalid_value(f"{where} must be a number.")
        if isinstance(value, int | float):
            return value
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise invalid_value(f"{where} must be a number.")
    if t == "dateTime":
        if isinstance(value, str) and _is_datetime(value):
            return value
        raise invalid_value(f"{where} must be an ISO 8601 date and time.")
    raise invalid_value(f"{where}: unsupported type {t}.")  # pragma: no cover


def check_schemas(body: dict[str, Any], required_urn: str) -> None:
    """`schemas`, when sent, must be a list of strings naming `required_urn`; other URNs (Entra
    adds its own) are tolerated. Left out it is taken as `required_urn`; `null` is refused
    (the schema documents a list)."""
    sent = [v for k, v in body.items() if isinstance(k, str) and k.lower() == "schemas"]
    if not sent:
        return
    schemas = sent[0]
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise invalid_syntax("schemas must be a list of schema URNs.")
    if required_urn.lower() not in (s.lower() for s in schemas):
        raise invalid_value(f"schemas must include {required_urn}.")


def set_at(doc: dict[str, Any], ref: AttrRef, value: Any) -> None:
    """Assign (or, for None, unassign) the attribute `ref` in a canonical document."""
    if ref.attr is None:
        raise RuntimeError("expected ref.attr is not None")
    container = doc.setdefault(ref.extension, {}) if ref.extension else doc
    if ref.sub is not None:
        parent = container.get(ref.attr.name)
        if not isinstance(parent, dict):
            parent = {}
        if value is None:
            parent.pop(ref.sub.name, None)
        else:
            parent[ref.sub.name] = value
        if parent:
            container[ref.attr.name] = parent
        else:
            container.pop(ref.attr.name, None)
    elif value is None:
        container.pop(ref.attr.name, None)
    else:
        container[ref.attr.name] = value
    if ref.extension and not container:
        doc.pop(ref.extension, None)


def normalize(rdef: ResourceDef, body: dict[str, Any]) -> dict[str, Any]:
    """A resource body as a canonical document: {"userName": ..., "name": {...},
    "<extension urn>": {...}}. id, meta, groups and other read-only or unknown attributes are
    dropped; `password` is dropped (never stored)."""
    if not isinstance(body, dict):
        raise invalid_syntax("The request body must be a JSON object.")
    doc: dict[str, Any] = {}
    for key, value in body.items():
        if not isinstance(key, str) or key.lower() == "schemas":
            continue
        ext = rdef.schema_for_urn(key)
        if ext is not None and ext is not rdef.core:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise invalid_value(f"{ext.id} must be an object.")
            for sub_key, sub_value in value.items():
                attr = ext.attr(sub_key) if isinstance(sub_key, str) else None
                if attr is None or attr.read_only:
                    continue
                set_at(doc, AttrRef(ext, attr), coerce(attr, sub_value, f"{ext.id}:{attr.name}"))
            continue
        ref = resolve(rdef, key)
        if ref is None or ref.attr is None or ref.attr.read_only:
            continue
        leaf = ref.leaf
        if leaf is None:
            raise RuntimeError("expected leaf is not None")
        if leaf.read_only or leaf.mutability == "writeOnly":
            continue  # password: accepted, never stored
        if ref.sub is not None and ref.attr.multi:
            continue
        set_at(doc, ref, coerce(leaf, value, ref.dotted()))
    return doc


def require(rdef: ResourceDef, doc: dict[str, Any], limits: dict[str, int]) -> None:
    """Required attributes present and within the lengths Drift stores."""
    for attr in rdef.core.attrs:
        if attr.required:
            value = doc.get(attr.name)
            if not isinstance(value, str) or not value.strip():
                raise invalid_value(f"{attr.name} is required.")
    for name, limit in limits.items():
        value = doc.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise invalid_value(f"{name} is longer than {limit} characters.")
