"""Helpers the SCIM services share."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from app.scim.errors import ScimError, not_found, uniqueness


def parse_id(value: str, kind: str) -> UUID:
    """A resource id from the URL; anything that is not one of ours is a 404."""
    try:
        return UUID(value)
    except ValueError:
        raise not_found(f"No {kind} with id {value!r}.") from None


def unique_error(exc: asyncpg.UniqueViolationError, values: dict[str, Any]) -> ScimError:
    constraint = getattr(exc, "constraint_name", "") or ""
    if constraint == "users_user_name_uq":
        return uniqueness(f"A user with userName {values.get('userName')!r} already exists in "
                          "this tenant (userName is compared case-insensitively).")
    if constraint == "users_email_uq":
        return uniqueness(f"Another user in this tenant already has the email "
                          f"{values.get('email')!r}; Drift uses the primary email to sign in, "
                          "so it must be unique.")
    if constraint == "teams_name_uq":
        return uniqueness(f"A group (Drift team) named {values.get('displayName')!r} already "
                          "exists in this tenant (names are compared case-insensitively).")
    return uniqueness("The resource conflicts with an existing one.")


def diff_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Top-level attributes (and extension URNs) whose value changed."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
