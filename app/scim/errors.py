"""SCIM errors (RFC 7644 §3.12): every error under /scim/v2 renders as the SCIM Error schema,
`status` as a string, `detail` always present, `scimType` where the RFC defines one."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import orjson
from fastapi import Request
from starlette.responses import Response

from app.core.errors import ProblemError
from app.scim.constants import MEDIA_TYPE, URN_ERROR

_TITLES = {400: "Bad request", 401: "Unauthorized", 402: "Payment required", 403: "Forbidden",
           404: "Not found", 405: "Method not allowed", 409: "Conflict",
           412: "Precondition failed", 413: "Payload too large", 415: "Unsupported media type",
           500: "Internal server error", 501: "Not implemented", 503: "Service unavailable"}


class ScimError(ProblemError):
    """An error with a SCIM `scimType` (rendered by `render_error` under /scim/v2)."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None, *,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail, status=status, code=f"scim_{scim_type or status}",
                         title=_TITLES.get(status, "Error"), headers=headers,
                         scim_type=scim_type)
        self.scim_type = scim_type


# The errors RFC 7644 §3.12 names, each called with the detail: `raise invalid_value("...")`.
invalid_filter = partial(ScimError, 400, scim_type="invalidFilter")
invalid_value = partial(ScimError, 400, scim_type="invalidValue")
invalid_syntax = partial(ScimError, 400, scim_type="invalidSyntax")
invalid_path = partial(ScimError, 400, scim_type="invalidPath")
no_target = partial(ScimError, 400, scim_type="noTarget")
mutability = partial(ScimError, 400, scim_type="mutability")
uniqueness = partial(ScimError, 409, scim_type="uniqueness")
not_found = partial(ScimError, 404)


def error_body(status: int, detail: str, scim_type: str | None = None) -> dict[str, str]:
    body = {"schemas": [URN_ERROR], "status": str(status), "detail": detail or "Error"}
    if scim_type:
        body["scimType"] = scim_type
    return body  # type: ignore[return-value]


def render_error(request: Request, status: int, code: str, detail: str, scim_type: str | None
                 ) -> Response:
    if status == 422:  # FastAPI request validation: SCIM has no 422
        status, scim_type = 400, scim_type or "invalidValue"
    return Response(orjson.dumps(error_body(status, detail, scim_type)), status_code=status,
                    media_type=MEDIA_TYPE)

