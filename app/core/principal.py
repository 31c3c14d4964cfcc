"""Who is calling: a user session, a user API key, or a tenant SCIM token."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from app.core.context import Actor


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    member = "member"
    viewer = "viewer"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


_RANK = {Role.viewer: 0, Role.member: 1, Role.admin: 2, Role.owner: 3}

CredentialType = Literal["api_key", "session", "scim_token"]


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: UUID
    credential_type: CredentialType
    credential_id: UUID
    user_id: UUID | None = None
    email: str | None = None
    role: Role | None = None

    def at_least(self, role: Role) -> bool:
        return self.role is not None and self.role.at_least(role)

    @property
    def is_admin(self) -> bool:
        return self.at_least(Role.admin)

    @property
    def actor(self) -> Actor:
        if self.credential_type == "scim_token":
            return Actor(type="scim", id=self.credential_id, credential_id=self.credential_id)
        return Actor(type="api_key" if self.credential_type == "api_key" else "user",
                     id=self.user_id, email=self.email, credential_id=self.credential_id)


class PrincipalCache:
    """Bounded LRU of token -> Principal with a TTL (per process)."""

    def __init__(self, maxsize: int = 10_000, ttl: float = 300.0) -> None:
        self.maxsize, self.ttl = maxsize, ttl
        self._data: OrderedDict[Any, tuple[Principal, float]] = OrderedDict()

    def get(self, key: Any) -> Principal | None:
        item = self._data.get(key)
        if item is None:
            return None
        principal, expires = item
        if expires < time.monotonic():
            self._data.pop(key, None)
            return None
        self._data.move_to_end(key)
        return principal

    def put(self, key: Any, principal: Principal) -> None:
        self._data[key] = (principal, time.monotonic() + self.ttl)
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def evict(self, key: Any) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()
