"""Who is calling: a user session, a user API key, or a tenant SCIM token."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal
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
