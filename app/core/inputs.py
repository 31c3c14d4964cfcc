"""Input rules every request shares, checked before anything reaches SQL.

- `RequestModel`: the base of every request body model. No string in it (a field, a list item,
  a dict key or value) may contain a NUL character: PostgreSQL text cannot store one, so it
  would otherwise fail in the driver. The 422 names the field.
- `Timestamp`: a date-time with a zone (a naive one is ambiguous, and comparing it with the
  stored, zoned times failed), normalised to UTC and within the years 1..9999 once in UTC
  (`0001-01-01T00:00:00+14:00` is a year-0 instant no database or client can represent).
- `case_insensitive_duplicate`: the first name of a list that repeats an earlier one but for
  case (lists of names that are compared case-insensitively).
- `query_text_refusal`: the same NUL rule for query parameters (whatever the route's types),
  checked by RequestContextMiddleware before routing: one substring search of the query string
  per request.

What still gets past these (a value the database refuses for a reason we did not foresee) is
answered by app.core.errors as a 400 that never echoes the driver's text.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from app.core.errors import NUL_FREE_PATTERN, NUL_MESSAGE, error_response


def document_nul_free(schema: dict[str, Any]) -> None:
    """Add NUL_FREE_PATTERN to every free-text string schema inside `schema` (in place; a
    string that already has a pattern, an enum or a fixed format is left as it is)."""
    fixed = ({"pattern", "enum", "const"} & schema.keys()
             or schema.get("format") in ("uuid", "date-time", "date", "binary"))
    if schema.get("type") == "string" and not fixed:
        schema["pattern"] = NUL_FREE_PATTERN
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, ()):
            document_nul_free(sub)
    for sub in (schema.get("properties") or {}).values():
        document_nul_free(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            document_nul_free(schema[key])
    names = schema.get("propertyNames")
    if isinstance(names, dict) and "pattern" not in names:  # map keys are always text
        names["pattern"] = NUL_FREE_PATTERN


def _refuse_nul(node: Any) -> None:
    """Give every plain string in a pydantic-core schema the NUL_FREE_PATTERN constraint
    (checked in Rust: no Python call per field). A string with its own pattern keeps it."""
    if isinstance(node, dict):
        if node.get("type") == "str" and "pattern" not in node:
            node["pattern"] = NUL_FREE_PATTERN
        for value in node.values():
            _refuse_nul(value)
    elif isinstance(node, list):
        for value in node:
            _refuse_nul(value)


class RequestModel(BaseModel):
    """Base of request bodies: no NUL characters in any text: a field, a list item, a map key
    or value (the 422 names it; app.core.errors words the message). The OpenAPI document says
    so as a pattern on each text field."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type[BaseModel],
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        schema = handler(source)
        _refuse_nul(schema)
        return schema

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        document_nul_free(handler.resolve_ref_schema(schema))
        return schema


def _utc_in_range(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError("datetime_range", "Input is outside the supported range "
                                  "(years 1 to 9999 in UTC)") from None


# A date-time with a zone, as UTC. The JSON Schema stays `format: date-time`.
Timestamp = Annotated[AwareDatetime, AfterValidator(_utc_in_range)]


def utc_or_none(value: datetime) -> datetime | None:
    """`value` in UTC, or None when it has no zone or its UTC instant is outside 1..9999
    (for times decoded from cursors, which are ours and always zoned)."""
    if value.tzinfo is None or value.utcoffset() is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def query_text_refusal(scope: Scope) -> Response | None:
    """422 (SCIM: 400 invalidValue) for a query string with a NUL character, naming the
    parameter, before routing: query parameters reach SQL as text in several places.
    RequestContextMiddleware asks this of every request (one substring search: a NUL can only
    arrive percent-encoded)."""
    if b"%00" not in scope.get("query_string", b""):
        return None
    qs = scope["query_string"].decode("latin-1")
    names = [k for k, v in parse_qsl(qs, keep_blank_values=True) if "\x00" in k or "\x00" in v]
    if not names:
        return None
    field = "query." + names[0].replace("\x00", "\\u0000")[:64]
    return error_response(
        Request(scope), 422, "validation_error", "Invalid request",
        f"{field}: {NUL_MESSAGE}",
        errors=[{"field": field, "message": NUL_MESSAGE}],
        # SCIM (RFC 7644 §3.12): a bad `filter` is invalidFilter
        scim_type="invalidFilter" if names[0].lower() == "filter" else "invalidValue")


def case_insensitive_duplicate(names: Iterable[str]) -> tuple[str, str] | None:
    """(the name, the earlier name it repeats but for case), or None when all are distinct."""
    seen: dict[str, str] = {}
    for name in names:
        key = name.lower()
        if key in seen:
            return name, seen[key]
        seen[key] = name
    return None
