"""REST list envelope and opaque keyset cursors.

`{"data": [...], "pagination": {"cursor": str|null, "has_more": bool, "total": int}}`; the cursor
is base64url JSON of the last row's sort key, so pages stay stable while rows are added.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

import orjson
from fastapi import Query
from pydantic import BaseModel
from starlette.responses import Response

from app.core.errors import BadRequest
from app.core.inputs import utc_or_none
from app.core.responses import json_response

T = TypeVar("T")


class Pagination(BaseModel):
    cursor: str | None
    has_more: bool
    total: int


class Page(BaseModel, Generic[T]):
    """Every REST list: `{"data": [...], "pagination": {...}}`. A domain names its page by
    subclassing (`class ProjectList(Page[ProjectOut])`), which keeps the OpenAPI name."""

    data: list[T]
    pagination: Pagination


MAX_LIMIT = 200
DEFAULT_LIMIT = 50

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT,
                             description=f"Page size, 1..{MAX_LIMIT} (default {DEFAULT_LIMIT})")]
Cursor = Annotated[str | None, Query(max_length=512,
                                     description="Opaque cursor from a previous page")]


def encode_cursor(values: dict[str, Any]) -> str:
    raw = orjson.dumps(values, default=str)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise BadRequest("The cursor is not valid; pass the cursor from a previous page.",
                         code="invalid_cursor") from exc
    if not isinstance(value, dict):
        raise BadRequest("The cursor is not valid; pass the cursor from a previous page.",
                         code="invalid_cursor")
    return value


def time_id_cursor(created_at: datetime, id_: UUID) -> str:
    return encode_cursor({"t": created_at.isoformat(), "i": str(id_)})


def parse_time_id_cursor(cursor: str | None) -> tuple[datetime, UUID] | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    try:
        at, id_ = utc_or_none(datetime.fromisoformat(value["t"])), UUID(value["i"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRequest("The cursor is not valid; pass the cursor from a previous page.",
                         code="invalid_cursor") from exc
    if at is None:  # ours always carry a zone and a representable instant
        raise BadRequest("The cursor is not valid; pass the cursor from a previous page.",
                         code="invalid_cursor")
    return at, id_


def envelope(data: list[Any], *, cursor: str | None, has_more: bool, total: int
             ) -> dict[str, Any]:
    return {"data": data,
            "pagination": {"cursor": cursor if has_more else None, "has_more": has_more,
                           "total": total}}


def page_response(rows: Sequence[Any], total: int, limit: int, out: Callable[[Any], Any], *,
                  time_col: str = "created_at", id_col: str = "id") -> Response:
    """The list response for `rows` fetched with LIMIT limit + 1 in (time_col, id_col) order:
    the first `limit` rows through `out`, and a cursor after the last one while there are more."""
    page = rows[:limit]
    nxt = time_id_cursor(page[-1][time_col], page[-1][id_col]) if page else None
    return json_response(envelope([out(r) for r in page], cursor=nxt,
                                  has_more=len(rows) > limit, total=total))
