"""Webhook secrets and signatures.

A secret is `whsec_` + base64 of 32 random bytes; the HMAC key is the 32 decoded bytes. Every
delivery carries two header families over the exact bytes of the body:

- Drift:  X-Drift-Webhook-Id, X-Drift-Timestamp (unix seconds),
          X-Drift-Signature: sha256=<hex HMAC-SHA256(key, "{timestamp}.{body}")>
- Standard Webhooks (https://www.standardwebhooks.com/): webhook-id, webhook-timestamp,
          webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>

During a rotation's grace period there is one signature per valid secret, newest first
(`sha256=a,sha256=b` and `v1,a v1,b`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (its 32 decoded bytes)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secrets start with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ + base64") from exc
    if len(key) != SECRET_BYTES:
        raise ValueError("a webhook secret holds 32 bytes")
    return key


def drift_signature(key: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signature_headers(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes
                      ) -> dict[str, str]:
    """Both header families, one signature per key (newest key first)."""
    if not keys:
        raise ValueError("an endpoint always has at least one valid secret")
    ts = str(timestamp)
    return {
        "X-Drift-Webhook-Id": msg_id,
        "X-Drift-Timestamp": ts,
        "X-Drift-Signature": ",".join(drift_signature(k, timestamp, body) for k in keys),
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": " ".join(standard_signature(k, msg_id, timestamp, body)
                                      for k in keys),
    }
