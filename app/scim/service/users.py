"""SCIM Users are the tenant's users. Create (seat checked), replace, patch, delete; `active`
false deprovisions (app.auth.service.deprovision_user: keys and sessions revoked, audited,
user.deprovisioned event), true reactivates (seat checked, same id and attributes); DELETE
deprovisions and hides the user from SCIM, keeping the row."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from app.auth import repository as auth_repo
from app.auth.service import deprovision_user
from app.core import clock
from app.core.audit_record import record
from app.core.emails import canonical_address
from app.core.errors import ProblemError
from app.core.events import build_data
from app.core.outbox import emit
from app.core.tx import Tx
from app.scim import render
from app.scim.attributes import USER, ResourceDef, resolve
from app.scim.constants import URN_CUSTOM, URN_USER
from app.scim.custom import finish
from app.scim.errors import invalid_value, mutability, not_found
from app.scim.patch import Patcher, parse_operations
from app.scim.repository import custom as custom_repo
from app.scim.repository import users as repo
from app.scim.resource import check_schemas, normalize, require
from app.scim.service import breaker
from app.scim.service.common import diff_keys, unique_error
from app.scim.service.custom import user_definition
from app.teams.invitations.service import (
    SUPERSEDED_BY_SCIM,
    Superseded,
    invitation_addresses,
    supersede_invitations,
)
from app.teams.ownership.service import notify_owner_email_changed
from app.teams.seats import ensure_seat_available

LIMITS = {"userName": 320}
OWNER_PROTECTED = ("The tenant owner cannot be deactivated or deleted through SCIM; transfer "
                   "ownership in Drift first.")
OWNER_IDENTITY = ("The tenant owner's {attrs} cannot be changed through SCIM: userName, emails "
                  "and externalId are the owner's sign-in identity. Nothing was changed. The "
                  "owner can let the identity provider manage them with PUT "
                  "/api/v1/settings/owner-identity {{\"managed_by_idp\": true}}.")


def canonical_addresses(doc: dict[str, Any]) -> dict[str, Any]:
    """userName (when it is an email address) and every emails[].value in their one stored
    form (app.core.emails), so that either spelling of an internationalised domain is one
    identity. Other values are kept exactly as sent."""
    if isinstance(doc.get("userName"), str):
        doc["userName"] = canonical_address(doc["userName"])
    emails = doc.get("emails")
    if isinstance(emails, list):
        doc["emails"] = [{**e, "value": canonical_address(e["value"])}
                         if isinstance(e, dict) and isinstance(e.get("value"), str) else e
                         for e in emails]
    return doc


def primary_email(doc: dict[str, Any]) -> str | None:
    """The user's Drift email: the primary one, else the first work one, else the first."""
    emails = [e for e in doc.get("emails") or [] if isinstance(e.get("value"), str)
              and e["value"].strip()]
    pick = (next((e for e in emails if e.get("primary") is True), None)
            or next((e for e in emails if str(e.get("type", "")).lower() == "work"), None)
            or (emails[0] if emails else None))
    if pick is None:
        return None
    email: str = pick["value"].strip()
    if len(email) > 320:
        raise invalid_value("The user's primary email is longer than 320 characters.")
    return email


def display_name(doc: dict[str, Any]) -> str | None:
    if isinstance(doc.get("displayName"), str) and doc["displayName"].strip():
        return str(doc["displayName"])
    name = doc.get("name") or {}
    if isinstance(name.get("formatted"), str) and name["formatted"].strip():
        return str(name["formatted"])
    parts = [name.get(k) for k in ("givenName", "familyName") if isinstance(name.get(k), str)]
    joined = " ".join(p for p in parts if p and p.strip())
    return joined or None


def _split(doc: dict[str, Any]) -> tuple[str, str | None, bool | None, dict[str, Any]]:
    """userName, externalId, active and the stored document (addresses already canonical)."""
    doc = dict(doc)
    user_name = str(doc.pop("userName"))
    external_id = doc.pop("externalId", None)
    active = doc.pop("active", None)
    if external_id is not None and len(external_id) > 1024:
        raise invalid_value("externalId is longer than 1024 characters.")
    return user_name, external_id, active, doc


def _user_event(user_id: UUID, user_name: str, email: str | None, external_id: str | None,
                active: bool) -> dict[str, Any]:
    return {"user_id": str(user_id), "user_name": user_name, "email": email,
            "external_id": external_id, "active": active, "source": "scim"}


async def get(tx: Tx, user_id: UUID, *, for_update: bool = False) -> asyncpg.Record:
    row = await repo.get(tx, user_id, for_update=for_update)
    if row is None:
        raise not_found(f"No user with id {user_id}.")
    return row


def resource(row: asyncpg.Record, base: str) -> dict[str, Any]:
    return render.user_resource(row, base, row.get("rel"))


def _new_user(rdef: ResourceDef, body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The insert's values and the stored document of a user created from `body`."""
    doc = canonical_addresses(normalize(rdef, body))
    require(USER, doc, LIMITS)
    finish(rdef, doc, None, whole=True)
    user_name, external_id, active, stored = _split(doc)
    active = True if active is None else active
    email = primary_email(stored)
    return {"user_name": user_name, "external_id": external_id, "email": email,
            "display_name": display_name(stored), "active": active, "doc": stored,
            "now": clock.now()}, stored


def _may_name_custom(body: Any) -> bool:
    """Whether a body may hold a value of the tenant's custom extension: only a top-level key
    can (`normalize` reads nothing else), and one the standard User resolves (core and
    enterprise attributes, the enterprise URN) cannot. What is left is the extension's URN,
    URN-qualified custom names and unqualified ones such as `badge`."""
    return not isinstance(body, dict) or any(
        not isinstance(k, str) or (k.lower() != "schemas" and resolve(USER, k) is None)
        for k in body)


async def create(tx: Tx, body: Any, base: str) -> dict[str, Any]:
    if isinstance(body, dict):
        check_schemas(body, URN_USER)
    # The tenant's custom attribute declarations are read only when the body may hold a
    # custom value. Otherwise they matter only if one is required, which the insert checks.
    named = _may_name_custom(body)
    values, stored = _new_user(await user_definition(tx) if named else USER, body)
    user_name, email, active = values["user_name"], values["email"], values["active"]
    # Invitations to this person are moot now (and would hold the seat they need): revoked
    # before the seat check, in this transaction (docs/teams.md, "Invitations"). The usual
    # case, nobody invited, no seat limit and no required custom attribute, is one statement:
    # the insert checks all three.
    addresses = invitation_addresses([email, user_name])
    superseded = Superseded([], SUPERSEDED_BY_SCIM, tenant_locked=False)
    try:
        row = await repo.insert(tx, **values, unless_seat_limit=active,
                                unless_invited=addresses, unless_required_custom=not named)
        if row is None:  # someone was invited, the plan has a seat limit, or the tenant
            # requires a custom attribute (checked here: a 400 when the body lacks it)
            if not named:  # the same core values, or a 400 for a missing custom attribute
                values, stored = _new_user(await user_definition(tx), body)
            superseded = await supersede_invitations(tx, addresses, reason=SUPERSEDED_BY_SCIM)
            if active:  # a seat first, before any insert: an insert holds a key-share lock
                # on the tenant row that two concurrent creations would then deadlock on
                await ensure_seat_available(tx, locked=superseded.tenant_locked)
            row = await repo.insert(tx, **values)
    except asyncpg.UniqueViolationError as exc:
        raise unique_error(exc, {"userName": user_name, "email": email}) from None
    if row is None:
        raise RuntimeError("expected row is not None")
    if URN_CUSTOM in stored:
        await custom_repo.reindex(tx, row["id"])
    external_id = values["external_id"]
    await emit(tx, "user.provisioned", _user_event(row["id"], user_name, email, external_id,
                                                   active))
    # last: record() takes the tenant's audit chain lock, held until COMMIT (docs/audit.md)
    await record(tx, "user.provisioned", resource_type="user", resource_id=row["id"],
                 metadata={"source": "scim", "user_name": user_name, "email": email,
                           "external_id": external_id, "active": active,
                           "invitations_revoked": len(superseded.rows)})
    await superseded.audit(tx, row["id"])
    return render.user_resource(row, base, [])


def _email_key(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _email_keys(doc: dict[str, Any]) -> set[str]:
    return {e["value"].strip().lower() for e in doc.get("emails") or []
            if isinstance(e, dict) and isinstance(e.get("value"), str) and e["value"].strip()}


async def _owner_guard(tx: Tx, row: asyncpg.Record, old: dict[str, Any], new: dict[str, Any]
                       ) -> asyncpg.Record | None:
    """For the tenant owner: refuse (400 mutability) any change of userName, emails or
    externalId unless the owner let the IdP manage them; the same values in another case or
    spelling of the domain are no change. Returns the tenant row when `row` is the owner."""
    if row["role"] != "owner":  # one owner, named by tenants.owner_id (0400 triggers)
        return None
    tenant = await repo.owner_identity(tx)
    if tenant is None or tenant["owner_id"] != row["id"]:
        return None
    if tenant["owner_managed_by_idp"]:
        return tenant
    changed = []
    if _email_key(old.get("userName")) != _email_key(new.get("userName")):
        changed.append("userName")
    if (_email_keys(old) != _email_keys(new)
            or _email_key(primary_email(old)) != _email_key(primary_email(new))):
        changed.append("emails")
    if old.get("externalId") != new.get("externalId"):
        changed.append("externalId")
    if changed:
        raise mutability(OWNER_IDENTITY.format(attrs=" and ".join(changed)))
    return tenant


async def _apply(tx: Tx, row: asyncpg.Record, new: dict[str, Any], base: str, *,
                 active_removed: bool, secret_key: str) -> dict[str, Any]:
    """Write the new canonical document of an existing user, and act on `active`."""
    new = canonical_addresses(new)
    require(USER, new, LIMITS)
    old = render.editable_user(row)
    owner_tenant = await _owner_guard(tx, row, old, new)
    user_name, external_id, active, stored = _split(new)
    previous = row["scim_resource"] or {}
    if active_removed or (active is None and previous.get(render.ACTIVE_UNSET)):
        stored[render.ACTIVE_UNSET] = True
    changed = [k for k in diff_keys(old, new) if k != "active"]
    if bool(previous.get(render.ACTIVE_UNSET)) != bool(stored.get(render.ACTIVE_UNSET)):
        changed.append("active")
    email = primary_email(stored)
    user_id = row["id"]
    # the mass-deprovision breaker (app.scim.service.breaker): a held deactivation stays held
    # while the IdP still asks for it (or leaves `active` out), and is cancelled when it asks
    # for the user back
    held = breaker.held_marker(row)
    if held is not None and active is not True:
        stored[render.HELD] = held
    elif held is not None:
        await breaker.cancel(tx, user_id, held)
    elif active is False and row["active"] and row["role"] != "owner":
        marker = await breaker.decide(tx, user_id=user_id, op="deactivate", base=base,
                                      secret_key=secret_key)
        if marker is not None:
            stored[render.HELD] = marker
    now = clock.now()
    if (changed or row["scim_resource"] is None
            or previous.get(render.HELD) != stored.get(render.HELD)):
        try:
            await repo.update(tx, user_id, user_name=user_name, external_id=external_id,
                              display_name=display_name(stored), email=email, doc=stored,
                              now=now)
        except asyncpg.UniqueViolationError as exc:
            raise unique_error(exc, {"userName": user_name, "email": email}) from None
        if URN_CUSTOM in changed:
            await custom_repo.reindex(tx, user_id)
    owner_email_changed = (owner_tenant is not None and row["email"] is not None
                           and row["email"] != email)
    if owner_tenant is not None and owner_email_changed:
        # the previous mailbox hears of it (the owner let the IdP manage their identity)
        await notify_owner_email_changed(tx, secret_key, tenant=owner_tenant,
                                         previous=row["email"], new=email, via="SCIM")
    reactivated = superseded = None
    if active is not None and active != row["active"]:
        if active:
            superseded = await supersede_invitations(tx, [email, user_name],
                                                     reason=SUPERSEDED_BY_SCIM)
            await ensure_seat_available(tx, locked=superseded.tenant_locked)
            await auth_repo.reactivate_user(tx, user_id, now)
            await emit(tx, "user.reactivated", _user_event(user_id, user_name, email,
                                                           external_id, True))
            reactivated = True
        elif render.HELD not in stored:
            await _deprovision(tx, user_id)
    if changed:
        await emit(tx, "user.updated", build_data(
            "user.updated", user_id=user_id, user_name=user_name, email=email,
            attributes=changed, source="scim"))
    # audit last: record() takes the tenant's audit chain lock (docs/audit.md, "Ordering")
    if changed:
        meta: dict[str, Any] = {"source": "scim", "attributes": changed,
                                "user_name": user_name}
        if owner_email_changed:
            meta["owner_email"] = {"from": row["email"], "to": email,
                                   "notified": row["email"]}
        await record(tx, "user.updated", resource_type="user", resource_id=user_id,
                     metadata=meta)
    if reactivated:
        await record(tx, "user.reactivated", resource_type="user", resource_id=user_id,
                     metadata={"source": "scim", "user_name": user_name})
    if superseded is not None:
        await superseded.audit(tx, user_id)
    fresh = await get(tx, user_id)
    return resource(fresh, base)


async def _deprovision(tx: Tx, user_id: UUID) -> None:
    try:
        await deprovision_user(tx, user_id, source="scim")
    except ProblemError as exc:
        if exc.code == "owner_protected":
            raise mutability(OWNER_PROTECTED) from None
        raise


async def replace(tx: Tx, row: asyncpg.Record, body: Any, base: str, *, secret_key: str
                  ) -> dict[str, Any]:
    if isinstance(body, dict):
        check_schemas(body, URN_USER)
    rdef = await user_definition(tx)
    new = normalize(rdef, body)
    finish(rdef, new, None, whole=True)
    return await _apply(tx, row, new, base, active_removed=False, secret_key=secret_key)


async def patch(tx: Tx, row: asyncpg.Record, body: Any, base: str, *, secret_key: str
                ) -> dict[str, Any]:
    ops = parse_operations(body)
    old = render.editable_user(row)
    rdef = await user_definition(tx)
    new = normalize(rdef, Patcher(rdef, old, str(row["id"])).apply(ops))
    finish(rdef, new, old, whole=False)
    removed = "active" in old and "active" not in new
    return await _apply(tx, row, new, base, active_removed=removed, secret_key=secret_key)


async def delete(tx: Tx, row: asyncpg.Record, base: str, *, secret_key: str) -> None:
    """DELETE /Users/{id}: at once (remove), or held by the mass-deprovision breaker when the
    user is active (the user then reads as gone to SCIM and keeps access until approved)."""
    held = breaker.held_marker(row)
    if held is not None:
        await breaker.mark(tx, row, await breaker.fold_delete(tx, row["id"], held))
        return
    if row["active"] and row["role"] != "owner":
        marker = await breaker.decide(tx, user_id=row["id"], op="delete", base=base,
                                      secret_key=secret_key)
        if marker is not None:
            await breaker.mark(tx, row, marker)
            return
    await remove(tx, row)


async def remove(tx: Tx, row: asyncpg.Record) -> None:
    """Deprovision the user and take them out of SCIM (today's DELETE; also what approving
    a held DELETE runs)."""
    user_id = row["id"]
    await _deprovision(tx, user_id)
    now = clock.now()
    groups_left = await repo.leave_scim_groups(tx, user_id, now)
    await repo.mark_deleted(tx, user_id, now)
    await record(tx, "user.deleted", resource_type="user", resource_id=user_id,
                 metadata={"source": "scim", "user_name": row["user_name"],
                           "email": row["email"], "external_id": row["external_id"],
                           "groups_left": groups_left})
