"""Per-request context: who is acting, from where, under which request id.

Set by the middleware and the authentication dependency; read by audit.record() so every
event carries actor, IP, user agent and request id without each service passing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from app.core.net import IPAddress

ActorType = Literal["user", "api_key", "scim", "system"]


@dataclass(slots=True)
class Actor:
    type: ActorType
    id: UUID | None = None
    email: str | None = None
    credential_id: UUID | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(type="system")


@dataclass(slots=True)
class RequestContext:
    request_id: str | None = None
    ip: IPAddress | None = None
    user_agent: str | None = None
    actor: Actor = field(default_factory=Actor.system)
    method: str | None = None
    path: str | None = None
    tenant_id: UUID | None = None  # once a credential named it (for log lines)
    # which database served a replica-eligible read (app.core.replica), for the access line
    db: str | None = None
    db_reason: str | None = None
    replica_lag: float | None = None
