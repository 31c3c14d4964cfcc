"""Group-to-role mappings applied: a user's role is the highest role mapped from their SCIM
groups, member when none is mapped. The tenant owner is never demoted (nor anyone promoted to
owner: an `owner` mapping gives admin). While a tenant has no mappings, SCIM never changes
anyone's role."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from app.core.audit_record import record
from app.core.tx import Tx
from app.scim.repository import mappings as repo


async def apply(tx: Tx, user_ids: Iterable[UUID] | None, reason: str) -> int:
    """Recompute roles for `user_ids` (None: every member of a SCIM group); audit each change
    as user.role_changed. Returns how many roles changed."""
    ids = None if user_ids is None else list(dict.fromkeys(user_ids))
    if ids is not None and not ids:
        return 0
    changes = await repo.recompute_roles(tx, ids)
    for c in changes:
        await record(tx, "user.role_changed", resource_type="user", resource_id=c["id"],
                     metadata={"from": c["old_role"], "to": c["new_role"], "reason": reason})
    return len(changes)
