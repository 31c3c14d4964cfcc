"""`attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9), on every response that
returns resources. `schemas` and attributes returned "always" (id) are always there; "never"
ones (password) never are. Names are case-insensitive and may be URN-qualified or name a
sub-attribute (`name.givenName`, `meta.lastModified`); unknown names are ignored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.scim.attributes import Attr, AttrRef, ResourceDef, resolve
from app.scim.errors import invalid_value


def split(value: Any) -> list[str] | None:
    """A query parameter ("a,b") or a SearchRequest list -> names."""
    if value is None:
        return None
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [x for v in value for x in v.split(",")]
    else:
        raise invalid_value("attributes and excludedAttributes must be attribute names.")
    names = [i.strip() for i in items if i.strip()]
    return names or None


@dataclass(frozen=True)
class Projection:
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None

    @classmethod
    def of(cls, attributes: Any, excluded: Any) -> Projection:
        inc, exc = split(attributes), split(excluded)
        if inc is not None and exc is not None:
            raise invalid_value("attributes and excludedAttributes are mutually exclusive.")
        return cls(tuple(inc) if inc else None, tuple(exc) if exc else None)

    @property
    def everything(self) -> bool:
        return self.include is None and self.exclude is None

    def wants(self, rdef: ResourceDef, attr_name: str) -> bool:
        """Whether a default-returned top-level core attribute (groups, members) is needed."""
        if self.include is not None:
            refs = [resolve(rdef, n) for n in self.include]
            return any(r is not None and r.attr is not None and r.attr.name == attr_name
                       and r.extension is None for r in refs)
        if self.exclude is not None:
            refs = [resolve(rdef, n) for n in self.exclude]
            return not any(r is not None and r.attr is not None and r.sub is None
                           and r.attr.name == attr_name and r.extension is None for r in refs)
        return True

    def apply(self, rdef: ResourceDef, resource: dict[str, Any]) -> dict[str, Any]:
        if self.everything:
            return resource
        if self.include is not None:
            return _include(rdef, resource, [r for r in (resolve(rdef, n) for n in self.include)
                                             if r is not None])
        if self.exclude is None:
            raise RuntimeError("expected self.exclude is not None")
        return _exclude(rdef, resource, [r for r in (resolve(rdef, n) for n in self.exclude)
                                         if r is not None])


def _always(attr: Attr) -> bool:
    return attr.returned == "always"


def _include(rdef: ResourceDef, res: dict[str, Any], refs: list[AttrRef]) -> dict[str, Any]:
    out: dict[str, Any] = {"schemas": res.get("schemas", [])}
    if "id" in res:
        out["id"] = res["id"]
    for a in rdef.core.attrs:
        if _always(a) and a.name in res:
            out[a.name] = res[a.name]
    # (extension or None, attribute name) -> None for the whole attribute, else sub names
    wanted: dict[tuple[str | None, str], set[str] | None] = {}
    for ref in refs:
        if ref.attr is None:
            if ref.schema is None:
                raise RuntimeError("expected ref.schema is not None")
            if isinstance(res.get(ref.schema.id), dict):
                out[ref.schema.id] = res[ref.schema.id]
            continue
        key = (ref.extension, ref.attr.name)
        if ref.sub is None:
            wanted[key] = None
        elif key not in wanted or wanted[key] is not None:
            names: set[str] = wanted.get(key) or set()
            names.add(ref.sub.name)
            wanted[key] = names
    for (ext, name), subs in wanted.items():
        src: Any = res.get(ext) if ext else res
        if not isinstance(src, dict) or name not in src:
            continue
        if ext and isinstance(out.get(ext), dict) and out[ext] is res.get(ext):
            continue  # the whole extension is already in
        dst = out.setdefault(ext, {}) if ext else out
        value = src[name]
        if subs is None:
            dst[name] = value
        elif isinstance(value, dict):
            picked = {k: v for k, v in value.items() if k in subs}
            if picked:
                dst[name] = picked
        elif isinstance(value, list):
            items = [{k: v for k, v in item.items() if k in subs} for item in value
                     if isinstance(item, dict)]
            items = [i for i in items if i]
            if items:
                dst[name] = items
    return out


def _exclude(rdef: ResourceDef, res: dict[str, Any], refs: list[AttrRef]) -> dict[str, Any]:
    out = dict(res)
    for ref in refs:
        if ref.attr is None:
            out.pop(ref.schema.id, None)  # type: ignore[union-attr]
            continue
        if _always(ref.attr) or (ref.sub is not None and _always(ref.sub)):
            continue
        holder: Any = out
        if ref.extension:
            ext = out.get(ref.extension)
            if not isinstance(ext, dict):
                continue
            holder = out[ref.extension] = dict(ext)
        if ref.sub is None:
            holder.pop(ref.attr.name, None)
            continue
        value = holder.get(ref.attr.name)
        if isinstance(value, dict):
            holder[ref.attr.name] = {k: v for k, v in value.items() if k != ref.sub.name}
        elif isinstance(value, list):
            holder[ref.attr.name] = [{k: v for k, v in item.items() if k != ref.sub.name}
                                     if isinstance(item, dict) else item for item in value]
    return out
