"""SCIM Groups are the tenant's SCIM-managed teams (teams.scim_managed); members are team
memberships. Membership changes go straight to SQL (a PATCH adding one member to a huge
group never loads the group), then the group-to-role mappings are applied to the users whose
groups changed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

import asyncpg

from app.core import clock
from app.core.audit_record import record
from app.core.events import build_data
from app.core.outbox import emit_many
from app.core.tx import Tx
from app.scim import render
from app.scim.attributes import GROUP, Attr
from app.scim.constants import URN_GROUP
from app.scim.errors import invalid_path, invalid_value, not_found
from app.scim.filter_syntax import Compare, Node, Or
from app.scim.patch import Patcher, matches, parse_operations
from app.scim.repository import groups as repo
from app.scim.repository import users as users_repo
from app.scim.resource import check_schemas, coerce, normalize, require
from app.scim.service import roles
from app.scim.service.common import diff_keys, unique_error

LIMITS = {"displayName": 200, "externalId": 1024}
_members = GROUP.core.attr("members")
if _members is None:
    raise RuntimeError("expected _members is not None")
MEMBERS: Attr = _members
MAX_LISTED = 100  # member ids listed in one audit event


async def get(tx: Tx, group_id: UUID, *, for_update: bool = False, with_members: bool = True
              ) -> asyncpg.Record:
    row = await repo.get(tx, group_id, for_update=for_update, with_members=with_members)
    if row is None:
        raise not_found(f"No group with id {group_id}.")
    return row


def resource(row: asyncpg.Record, base: str) -> dict[str, Any]:
    return render.group_resource(row, base, row.get("rel"))


def _member_id(item: dict[str, Any]) -> str | None:
    value = item.get("value")
    if value is None and isinstance(item.get("$ref"), str):
        value = item["$ref"].rstrip("/").rsplit("/", 1)[-1]
    return value if isinstance(value, str) else None


def member_values(value: Any, where: str = "members") -> list[str]:
    """The user ids a members value names (value, else the last segment of $ref)."""
    items = coerce(MEMBERS, value, where) or []
    out: list[str] = []
    for item in items:
        kind = item.get("type")
        if isinstance(kind, str) and kind.lower() != "user":
            raise invalid_value(f"{where}: only users can be members (nested groups are not "
                                "supported).")
        mid = _member_id(item)
        if mid is None:
            raise invalid_value(f"{where}: each member needs a value (the user's id).")
        out.append(mid)
    return list(dict.fromkeys(out))


async def existing_users(tx: Tx, values: Iterable[str], where: str = "members") -> list[UUID]:
    """The ids as users of this tenant, or a 400 naming the first that is not."""
    ids: list[UUID] = []
    for v in values:
        try:
            ids.append(UUID(v))
        except ValueError:
            raise invalid_value(f"{where}: {v!r} is not the id of a user.") from None
    found = await users_repo.visible_ids(tx, ids) if ids else set()
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise invalid_value(f"{where}: no user with id {missing[0]} in this tenant.")
    return ids


def _as_ids(values: Iterable[str]) -> list[UUID]:
    out = []
    for v in values:
        try:
            out.append(UUID(v))
        except ValueError:
            continue  # not a member, so nothing to remove
    return out


def _simple_ids(flt: Node) -> list[str] | None:
    """`value eq "a" or value eq "b"` -> ["a", "b"]; None for anything else."""
    if isinstance(flt, Or):
        left, right = _simple_ids(flt.left), _simple_ids(flt.right)
        return None if left is None or right is None else left + right
    if (isinstance(flt, Compare) and flt.op == "eq" and isinstance(flt.value, str)
            and flt.path.rsplit(".", 1)[-1].lower() == "value"):
        return [flt.value]
    return None


class MemberChanges:
    """Collects the membership operations of one PATCH in order (the `members` hook)."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Any]] = []

    def __call__(self, op: str, flt: Node | None, sub: Attr | None, value: Any) -> None:
        if sub is not None and not (op == "remove" and flt is not None):
            raise invalid_path("Members are added and removed whole; their sub-attributes "
                               "cannot be changed.")
        if op == "add":
            self.steps.append(("add", member_values(value)))
        elif op == "replace":
            if flt is not None:
                self.steps.append(("remove_filter", flt))
                self.steps.append(("add", member_values(value)))
            else:
                self.steps.append(("replace", member_values(value)))
        elif flt is not None:
            self.steps.append(("remove_filter", flt))
        elif value is not None:  # Entra: remove only the listed members
            self.steps.append(("remove", member_values(value)))
        else:
            self.steps.append(("replace", []))

    async def resolve(self, tx: Tx, base: str, group_id: UUID
                      ) -> tuple[list[UUID], list[UUID]]:
        """(to add, to remove) against the current memberships."""
        state: dict[UUID, None] | None = None  # the full set, once it had to be known
        adds: dict[UUID, None] = {}
        removes: set[UUID] = set()
        current: list[UUID] | None = None
        for kind, arg in self.steps:
            if kind == "remove_filter":
                simple = _simple_ids(arg)
                if simple is not None:
                    kind, arg = "remove", simple
            if kind == "add":
                for uid in await existing_users(tx, arg):
                    removes.discard(uid)
                    if state is not None:
                        state[uid] = None
                    else:
                        adds[uid] = None
            elif kind == "remove":
                for uid in _as_ids(arg):
                    adds.pop(uid, None)
                    if state is not None:
                        state.pop(uid, None)
                    else:
                        removes.add(uid)
            elif kind == "replace":
                state = dict.fromkeys(await existing_users(tx, arg))
                adds.clear()
                removes.clear()
            else:  # a filter that needs the members themselves
                if state is None:
                    if current is None:
                        current = await repo.member_ids(tx, group_id)
                    state = {u: None for u in current if u not in removes}
                    state.update(adds)
                    adds.clear()
                    removes.clear()
                for uid in list(state):
                    item = {"value": str(uid), "type": "User", "$ref": f"{base}/Users/{uid}"}
                    if matches(arg, item, MEMBERS):
                        state.pop(uid)
        if state is None:
            return list(adds), list(removes)
        if current is None:
            current = await repo.member_ids(tx, group_id)
        now = set(current)
        return [u for u in state if u not in now], [u for u in current if u not in state]


async def _emit_membership(tx: Tx, group_id: UUID, name: str, added: list[asyncpg.Record],
                           removed: list[asyncpg.Record]) -> None:
    """team.member.added / team.member.removed, one per user, as the teams API emits them
    (source `scim`): a SCIM group is a team."""
    def data(type_: str, r: asyncpg.Record) -> dict[str, Any]:
        return build_data(type_, team_id=group_id, team_name=name, user_id=r["user_id"],
                          email=r["email"], role=r["role"], source="scim")

    if added:
        await emit_many(tx, "team.member.added",
                        [data("team.member.added", r) for r in added])
    if removed:
        await emit_many(tx, "team.member.removed",
                        [data("team.member.removed", r) for r in removed])


def _members_meta(added: list[UUID], removed: list[UUID]) -> dict[str, Any]:
    return {"members_added": [str(u) for u in added[:MAX_LISTED]],
            "members_removed": [str(u) for u in removed[:MAX_LISTED]],
            "members_added_count": len(added), "members_removed_count": len(removed)}


async def create(tx: Tx, body: Any, base: str) -> dict[str, Any]:
    if isinstance(body, dict):
        check_schemas(body, URN_GROUP)
    doc = normalize(GROUP, body)
    require(GROUP, doc, LIMITS)
    member_ids = await existing_users(tx, member_values(doc.get("members")))
    now = clock.now()
    try:
        row = await repo.insert(tx, name=doc["displayName"], external_id=doc.get("externalId"),
                                now=now)
    except asyncpg.UniqueViolationError as exc:
        raise unique_error(exc, doc) from None
    added_rows = await repo.add_members(tx, row["id"], member_ids, now)
    added = [r["user_id"] for r in added_rows]
    await _emit_membership(tx, row["id"], row["name"], added_rows, [])
    await record(tx, "group.created", resource_type="group", resource_id=row["id"],
                 metadata={"source": "scim", "display_name": row["name"],
                           "external_id": row["external_id"], **_members_meta(added, [])})
    await roles.apply(tx, added, "scim_group_created")
    # memberships are listed oldest first, then by user id: these all share created_at
    return render.group_resource(row, base, sorted(member_ids))


async def _save(tx: Tx, row: asyncpg.Record, new: dict[str, Any], added: list[UUID],
                removed: list[UUID]) -> bool:
    """Write attribute and membership changes, audit them, apply role mappings. Whether
    anything changed."""
    require(GROUP, new, LIMITS)
    old = render.editable_group(row)
    changed = [k for k in diff_keys(old, new) if k != "members"]
    gid = row["id"]
    now = clock.now()
    if changed:
        try:
            await repo.update(tx, gid, name=new["displayName"],
                              external_id=new.get("externalId"), now=now)
        except asyncpg.UniqueViolationError as exc:
            raise unique_error(exc, new) from None
    added_rows = await repo.add_members(tx, gid, added, now)
    removed_rows = await repo.remove_members(tx, gid, removed)
    added = [r["user_id"] for r in added_rows]
    removed = [r["user_id"] for r in removed_rows]
    if not changed and not added and not removed:
        return False
    if not changed:
        await repo.touch(tx, gid, now)
    await _emit_membership(tx, gid, new["displayName"], added_rows, removed_rows)
    meta: dict[str, Any] = {"source": "scim", "display_name": new["displayName"],
                            "attributes": changed, **_members_meta(added, removed)}
    if "displayName" in changed:
        meta["previous_display_name"] = row["name"]
    await record(tx, "group.updated", resource_type="group", resource_id=gid, metadata=meta)
    if "displayName" in changed:  # mappings match names: every member may change role
        affected: list[UUID] = [*await repo.member_ids(tx, gid), *removed]
    else:
        affected = [*added, *removed]
    await roles.apply(tx, affected, "scim_group_changed")
    return True


async def replace(tx: Tx, row: asyncpg.Record, body: Any, base: str) -> dict[str, Any]:
    if isinstance(body, dict):
        check_schemas(body, URN_GROUP)
    doc = normalize(GROUP, body)
    require(GROUP, doc, LIMITS)
    wanted = await existing_users(tx, member_values(doc.pop("members", None)))
    current = await repo.member_ids(tx, row["id"])
    keep = set(wanted)
    have = set(current)
    await _save(tx, row, doc, [u for u in wanted if u not in have],
                [u for u in current if u not in keep])
    return resource(await get(tx, row["id"]), base)


async def patch(tx: Tx, row: asyncpg.Record, body: Any, base: str
                ) -> tuple[bool, bool]:
    """Apply a PATCH. (anything changed, only members were targeted)."""
    ops = parse_operations(body)
    members = MemberChanges()
    patcher = Patcher(GROUP, render.editable_group(row), str(row["id"]), members=members)
    new = normalize(GROUP, patcher.apply(ops))
    added, removed = await members.resolve(tx, base, row["id"])
    changed = await _save(tx, row, new, added, removed)
    return changed, patcher.touched <= {"members"}


async def delete(tx: Tx, row: asyncpg.Record) -> None:
    gid = row["id"]
    former = await repo.member_ids(tx, gid)
    await repo.delete(tx, gid)
    await record(tx, "group.deleted", resource_type="group", resource_id=gid,
                 metadata={"source": "scim", "display_name": row["name"],
                           "external_id": row["external_id"], "members_count": len(former)})
    await roles.apply(tx, former, "scim_group_deleted")
