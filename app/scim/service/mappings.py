"""Group-to-role mappings (admin REST): replaced as a whole; saving them applies them at once
to every member of a SCIM group."""

from __future__ import annotations

import asyncpg

from app.core import clock
from app.core.audit_record import record
from app.core.errors import BadRequest
from app.core.inputs import case_insensitive_duplicate
from app.core.tx import Tx
from app.scim.repository import mappings as repo
from app.scim.schemas import GroupMapping
from app.scim.service import roles


async def list_mappings(tx: Tx) -> list[asyncpg.Record]:
    return await repo.list_all(tx)


def _check_unique(items: list[GroupMapping]) -> None:
    duplicate = case_insensitive_duplicate(item.group for item in items)
    if duplicate is not None:
        raise BadRequest(f"The group {duplicate[0]!r} is mapped twice (group names are "
                         f"compared case-insensitively: {duplicate[1]!r}).",
                         code="duplicate_group_mapping")


async def preview(tx: Tx, items: list[GroupMapping]) -> list[asyncpg.Record]:
    """The dry run: the role changes `replace(items)` would make, computed read-only (nothing
    saved, nothing audited)."""
    _check_unique(items)
    return await repo.preview_roles(tx, [(i.group, i.role.value) for i in items])


async def replace(tx: Tx, items: list[GroupMapping]) -> list[asyncpg.Record]:
    _check_unique(items)
    before = [{"group": r["group_name"], "role": r["role"]} for r in await repo.list_all(tx)]
    await repo.replace_all(tx, [(i.group, i.role.value) for i in items], clock.now())
    after = [{"group": i.group, "role": i.role.value} for i in items]
    changed = await roles.apply(tx, None, "scim_group_mapping_changed")
    await record(tx, "scim.group_mappings_updated", resource_type="scim_group_mappings",
                 metadata={"previous": before, "mappings": after, "roles_changed": changed})
    return await repo.list_all(tx)
