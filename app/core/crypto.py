"""Encryption at rest for secrets we must be able to read back (webhook signing secrets,
queued email bodies that carry one-time links). Fernet (AES-128-CBC + HMAC-SHA256) with a key
derived per purpose from DRIFT_SECRET_KEY by HKDF."""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["InvalidToken", "decrypt", "encrypt"]


@lru_cache(maxsize=32)
def _fernet(secret_key: str, purpose: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"drift-cloud",
               info=purpose.encode()).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret_key: str, purpose: str, plaintext: bytes) -> bytes:
    return _fernet(secret_key, purpose).encrypt(plaintext)


def decrypt(secret_key: str, purpose: str, token: bytes) -> bytes:
    return _fernet(secret_key, purpose).decrypt(token)
