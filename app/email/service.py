"""Queueing email: a row in email_outbox inside the caller's transaction; the worker sends it
after commit. Bodies carry one-time links, so they are stored encrypted."""

from __future__ import annotations

from uuid import UUID

from app.core import clock
from app.core.crypto import decrypt, encrypt
from app.core.tx import Tx
from app.email import repository

PURPOSE = "email-body"


async def enqueue(tx: Tx, secret_key: str, *, kind: str, to_address: str, subject: str,
                  body: str) -> UUID:
    return await repository.insert(
        tx, kind=kind, to_address=to_address, subject=subject,
        body_encrypted=encrypt(secret_key, PURPOSE, body.encode()), now=clock.now())


def body_of(secret_key: str, body_encrypted: bytes) -> str:
    return decrypt(secret_key, PURPOSE, bytes(body_encrypted)).decode()
