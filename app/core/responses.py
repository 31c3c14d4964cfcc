"""Fast JSON responses (orjson). Routes declare their OpenAPI models with `responses=`/
`response_model` for the docs and the conformance fuzzing, and return these directly."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

# A database row as builders read it (an asyncpg Record, or any mapping in tests).
Row = Mapping[str, Any]


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        raise TypeError("bytes are not JSON")
    if hasattr(value, "exploded"):  # ipaddress objects
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=_default, option=orjson.OPT_UTC_Z)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None,
                  media_type: str = "application/json") -> Response:
    return Response(dumps(data), status_code=status, media_type=media_type,
                    headers=dict(headers or {}))
