"""Rows -> SCIM resources: schemas, id, the attributes as stored, meta (resourceType, created,
lastModified, location, version). `version` (and the ETag header) is a hash of everything
else in the representation, so it changes exactly when the resource does."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from app.scim.constants import PREFIX, URN_CUSTOM, URN_ENTERPRISE, URN_GROUP, URN_USER

# Internal keys in users.scim_resource, never rendered.
ACTIVE_UNSET = "_activeUnset"  # `active` was removed by PATCH: rendered as unassigned
HELD = "_held"  # a deprovision the breaker holds ({"id", "op"}): the identity provider sees
# the state it asked for, active false (docs/scim.md, "Mass-deprovision breaker")
# (and `_deleted`: the identifiers a user had when deleted over SCIM, written in SQL by
# app.scim.repository.users.mark_deleted)


_EXTENSIONS = (URN_ENTERPRISE, URN_CUSTOM)  # listed in a user's `schemas` when it has them


def base_url(public_url: str) -> str:
    return public_url.rstrip("/") + PREFIX


def timestamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def etag(resource: Mapping[str, Any], exclude: frozenset[str] = frozenset()) -> str:
    body = {k: v for k, v in resource.items() if k != "meta" and k not in exclude}
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k != "version"}
    digest = hashlib.sha256(orjson.dumps([body, meta], option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f'W/"{digest[:20]}"'


def _finish(resource: dict[str, Any], rtype: str, created: datetime, modified: datetime,
            location: str, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    resource["meta"] = {"resourceType": rtype, "created": timestamp(created),
                        "lastModified": timestamp(modified), "location": location}
    resource["meta"]["version"] = etag(resource, exclude)
    return resource


_GROUP_VERSION_EXCLUDES = frozenset({"members"})


_NAME_SEPARATORS = str.maketrans("._+-", "    ")
_SPACES = re.compile(r"\s+")


def derived_name(display_name: str | None, email: str | None) -> dict[str, str] | None:
    """name.givenName/familyName of a user Drift created itself (an owner, an invited
    member), which Okta's SCIM checks require of every listed user (docs/scim.md, "Names of
    users Drift created"): the display name, or else the email's local part with . _ + -
    read as spaces; its first word is the given name, the rest the family name (the one word
    again when there is only one). Mirrors the SQL in app.scim.repository.search.USER_DOC."""
    source = (display_name or "").strip()
    if not source and email:
        source = email.rsplit("@", 1)[0].translate(_NAME_SEPARATORS)
    source = _SPACES.sub(" ", source).strip()
    if not source:
        return None
    given, _, family = source.partition(" ")
    return {"formatted": source, "givenName": given, "familyName": family or given}


def fallback_doc(display_name: str | None, email: str | None) -> dict[str, Any]:
    """The SCIM view of a user Drift created itself (no SCIM document yet). Mirrors
    app.scim.repository.search.USER_DOC."""
    doc: dict[str, Any] = {}
    if display_name is not None:
        doc["displayName"] = display_name
    name = derived_name(display_name, email)
    if name is not None:
        doc["name"] = name
    if email is not None:
        doc["emails"] = [{"value": email, "primary": True}]
    return doc


def stored_doc(row: Mapping[str, Any]) -> dict[str, Any]:
    doc = row["scim_resource"]
    if doc is None:
        return fallback_doc(row["display_name"], row["email"])
    return dict(doc)


def user_resource(row: Mapping[str, Any], base: str,
                  groups: Iterable[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    doc = stored_doc(row)
    uid = str(row["id"])
    res: dict[str, Any] = {"schemas": [URN_USER, *(u for u in _EXTENSIONS if u in doc)],
                           "id": uid}
    if row["external_id"] is not None:
        res["externalId"] = row["external_id"]
    res["userName"] = row["user_name"]
    for key, value in doc.items():
        if not key.startswith("_"):
            res[key] = value
    if not doc.get(ACTIVE_UNSET):
        res["active"] = row["active"] and not doc.get(HELD)
    if groups:
        res["groups"] = [{"value": str(g["id"]), "$ref": f"{base}/Groups/{g['id']}",
                          "display": g["name"], "type": "direct"} for g in groups]
    return _finish(res, "User", row["created_at"], row["updated_at"], f"{base}/Users/{uid}")


def group_resource(row: Mapping[str, Any], base: str,
                   members: Iterable[UUID | str] | None = None) -> dict[str, Any]:
    gid = str(row["id"])
    res: dict[str, Any] = {"schemas": [URN_GROUP], "id": gid}
    if row["external_id"] is not None:
        res["externalId"] = row["external_id"]
    res["displayName"] = row["name"]
    if members:
        res["members"] = [{"value": str(m), "$ref": f"{base}/Users/{m}", "type": "User"}
                          for m in members]
    # Members are left out of the version (a group may have many; loading them all to answer
    # If-Match would be wasteful): every membership change moves lastModified instead.
    return _finish(res, "Group", row["created_at"], row["updated_at"], f"{base}/Groups/{gid}",
                   _GROUP_VERSION_EXCLUDES)


def editable_user(row: Mapping[str, Any]) -> dict[str, Any]:
    """The writable attributes of a user as one canonical document (what PATCH works on)."""
    doc = {k: v for k, v in stored_doc(row).items() if not k.startswith("_")}
    out: dict[str, Any] = {"userName": row["user_name"]}
    if row["external_id"] is not None:
        out["externalId"] = row["external_id"]
    stored = row["scim_resource"] or {}
    if not stored.get(ACTIVE_UNSET):
        out["active"] = row["active"] and not stored.get(HELD)
    out.update(doc)
    return out


def editable_group(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"displayName": row["name"]}
    if row["external_id"] is not None:
        out["externalId"] = row["external_id"]
    return out
