"""HTTP details of SCIM: request bodies (application/scim+json or application/json, at most
maxPayloadSize), responses (application/scim+json with Location and ETag), query parameters,
and conditional requests (If-Match -> 412, If-None-Match -> 304)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from app.core.responses import json_response
from app.scim.constants import (
    DEFAULT_COUNT,
    MAX_JSON_DEPTH,
    MAX_PAYLOAD_SIZE,
    MAX_RESULTS,
    MAX_START_INDEX,
    MEDIA_TYPE,
)
from app.scim.errors import ScimError, invalid_syntax, invalid_value

_JSON_TYPES = ("application/scim+json", "application/json")


async def read_json(request: Request) -> Any:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype and ctype not in _JSON_TYPES and not ctype.endswith("+json"):
        raise ScimError(415, f"Send the body as application/scim+json or application/json, "
                        f"not {ctype}.")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_PAYLOAD_SIZE:
        raise ScimError(413, f"The request body is larger than {MAX_PAYLOAD_SIZE} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_PAYLOAD_SIZE:
            raise ScimError(413, f"The request body is larger than {MAX_PAYLOAD_SIZE} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise invalid_syntax("The request body is empty; send a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid_syntax(f"The request body is not valid JSON: {exc}.") from None
    if _deeper_than(body, MAX_JSON_DEPTH):
        raise invalid_syntax(f"The request body is nested more than {MAX_JSON_DEPTH} levels "
                             "deep; no SCIM request needs that.")
    return body


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays/objects nest more than `limit` levels (iteratively: the code that walks
    bodies later, e.g. Bulk's bulkId substitution, recurses, and JSON allows ~1,000 levels)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def scim_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None
                  ) -> Response:
    return json_response(data, status, headers, media_type=MEDIA_TYPE)


def resource_response(resource: dict[str, Any], status: int = 200,
                      body: dict[str, Any] | None = None) -> Response:
    """A resource with its Location and ETag; `body` is the projected form when it differs."""
    meta = resource["meta"]
    return scim_response(resource if body is None else body, status,
                         {"Location": meta["location"], "ETag": meta["version"]})


def int_param(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise invalid_value(f"{name} must be an integer.")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise invalid_value(f"{name} must be an integer.") from None


def paging(start_index: Any, count: Any) -> tuple[int, int]:
    """(startIndex, count) as RFC 7644 §3.4.2.4 reads them: startIndex < 1 means 1, count < 0
    means 0, no count means the default page size, never more than maxResults. A startIndex
    beyond MAX_START_INDEX means MAX_START_INDEX (an empty page, like any start past the end)."""
    start = int_param(start_index, "startIndex")
    n = int_param(count, "count")
    start = 1 if start is None or start < 1 else min(start, MAX_START_INDEX)
    n = DEFAULT_COUNT if n is None else max(0, min(n, MAX_RESULTS))
    return start, n


def sort_order(value: Any) -> bool:
    """True for descending."""
    if value is None or value == "":
        return False
    if not isinstance(value, str) or value.lower() not in ("ascending", "descending"):
        raise invalid_value('sortOrder must be "ascending" or "descending".')
    return value.lower() == "descending"


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def check_if_match(request: Request, version: str) -> None:
    header = request.headers.get("if-match")
    if header is None:
        return
    tags = _tags(header)
    if "*" in tags or version.removeprefix("W/") in tags:
        return
    raise ScimError(412, f"The resource has changed: its version is now {version}. Read it "
                    "again and retry.")


def not_modified(request: Request, version: str) -> bool:
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or version.removeprefix("W/") in tags
