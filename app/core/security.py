"""Tokens, hashes, passwords and JWTs.

Bearer secrets are >= 32 random bytes, shown once, stored as SHA-256. Passwords use argon2id.
JWTs are HS256 with the algorithm pinned on decode.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from jose import JWTError, jwt

from app.core import clock

# Prefixes tell credential kinds apart (and let secret scanners recognise them).
API_KEY_PREFIX = "dck_"
SCIM_TOKEN_PREFIX = "dcs_"  # noqa: S105 - a prefix, not a secret
REFRESH_TOKEN_PREFIX = "dcr_"  # noqa: S105
INVITATION_TOKEN_PREFIX = "dci_"  # noqa: S105
RESET_TOKEN_PREFIX = "dce_"  # noqa: S105

JWT_ALGORITHM = "HS256"
JWT_ISSUER = "drift-cloud"
JWT_AUDIENCE = "drift-cloud-api"

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the user does not exist, so a miss costs the same time as a hit.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def new_token(prefix: str) -> str:
    """A bearer secret: prefix + 43 url-safe characters (32 random bytes)."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def display_prefix(token: str) -> str:
    """What we keep to let people recognise a key: its prefix and first 8 random characters."""
    head, _, rest = token.partition("_")
    return f"{head}_{rest[:8]}"


def constant_time_equals(a: bytes | str, b: bytes | str) -> bool:
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Verify off the event loop; always spends one argon2 verification."""
    return await asyncio.to_thread(_verify, stored, password)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: UUID
    tenant_id: UUID
    session_id: UUID
    expires_at: datetime


def issue_access_token(secret: str, *, user_id: UUID, tenant_id: UUID, session_id: UUID,
                       ttl_seconds: int) -> tuple[str, int]:
    issued = clock.now()
    payload: dict[str, Any] = {
        "iss": JWT_ISSUER,
        "aud": JWT_AUDIENCE,
        "sub": str(user_id),
        "tid": str(tenant_id),
        "sid": str(session_id),
        "typ": "access",
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl_seconds)).timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM), ttl_seconds


def decode_access_token(secret: str, token: str) -> AccessClaims | None:
    """The claims of a valid access token, or None. Only HS256 is accepted."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != JWT_ALGORITHM:
            return None
        payload = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], audience=JWT_AUDIENCE, issuer=JWT_ISSUER,
            options={"verify_exp": False, "require_exp": True, "require_iat": True,
                     "require_sub": True, "require_aud": True, "require_iss": True},
        )
        if payload.get("typ") != "access":
            return None
        exp = int(payload["exp"])
        if exp <= clock.now().timestamp():  # expiry against our clock, not the OS clock
            return None
        return AccessClaims(
            user_id=UUID(payload["sub"]), tenant_id=UUID(payload["tid"]),
            session_id=UUID(payload["sid"]),
            expires_at=datetime.fromtimestamp(exp, tz=clock.now().tzinfo),
        )
    except (JWTError, KeyError, ValueError, TypeError):
        return None
