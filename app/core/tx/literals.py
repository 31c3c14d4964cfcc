"""Values as PostgreSQL literals: how statements sent as text (deferred with COMMIT, or
riding in the round trip that opens a write, `Tx.run`) carry their values."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

_PARAM = re.compile(r"\$(\d+)")


# The process's dollar-quote tag, random so that no text is likely to hold it; a text that
# does gets a fresh random tag of its own (the check, not the secrecy, is what makes it safe).
_TAG = f"$v{secrets.token_hex(6)}$"


def _dollar(text: str) -> str:
    """A dollar-quoted literal whose tag the text does not contain."""
    if "\x00" in text:
        raise ValueError("a NUL character cannot be sent as a literal")
    tag = _TAG
    while tag in text:
        tag = f"$v{secrets.token_hex(6)}$"
    return f"{tag}{text}{tag}"


def literal(value: Any) -> str:
    """A PostgreSQL literal for a typed value (None, bool, int, UUID, aware datetime, str,
    dict as jsonb, a list of UUIDs, dicts or strings)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, UUID):
        # a subclass could render itself otherwise: only uuid.UUID's own text goes in as is
        return f"'{value if type(value) is UUID else UUID(str(value))}'::uuid"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a naive datetime cannot be sent as a timestamptz literal")
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, str):
        return _dollar(value)
    if isinstance(value, dict):
        return _dollar(orjson.dumps(value, default=str).decode()) + "::jsonb"
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError("no literal form for an empty array (its type is unknown)")
        if all(isinstance(v, UUID) for v in value):
            return "ARRAY[" + ", ".join(literal(v) for v in value) + "]::uuid[]"
        if all(isinstance(v, dict) for v in value):
            return "ARRAY[" + ", ".join(literal(v) for v in value) + "]::jsonb[]"
        if all(isinstance(v, str) for v in value):
            return "ARRAY[" + ", ".join(literal(v) for v in value) + "]::text[]"
    raise ValueError(f"no literal form for {type(value).__name__}")


def inline(sql: str, args: Sequence[Any]) -> str:
    """`sql` with $1..$n replaced by literals of `args` (values, never SQL text)."""
    rendered = [literal(a) for a in args]
    return _PARAM.sub(lambda m: rendered[int(m.group(1)) - 1], sql)
