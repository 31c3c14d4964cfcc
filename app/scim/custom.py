"""Tenant-defined User attributes (docs/scim.md, "Custom attributes").

A tenant declares them with PUT /api/v1/settings/scim/schema; they form one extension schema,
URN_CUSTOM, added to the User resource definition of that tenant's requests. Everything else
(normalising input, PATCH paths, projections, rendering, /Schemas) then works from that
definition exactly as for the enterprise extension. What is particular to them is here: the
checks a stored value must pass (required, length, dateTime form, integer range) and the form
a value takes in the filter index (app.scim.repository.custom)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from app.scim.attributes import USER, Attr, ResourceDef, SchemaDef
from app.scim.constants import URN_CUSTOM
from app.scim.errors import invalid_filter, invalid_value

CustomType = Literal["string", "boolean", "integer", "dateTime"]
# RFC 7643 §2.1 ATTRNAME = ALPHA *(nameChar); nameChar = "-" / "_" / DIGIT / ALPHA
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
MAX_ATTRIBUTES = 50
# A string value is a btree key of the filter index (at most ~2700 bytes): 500 characters of
# up to 4 bytes each fit.
MAX_VALUE_LENGTH = 500
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class CustomAttr:
    name: str
    type: CustomType
    required: bool = False
    case_exact: bool = False
    description: str = ""

    def definition(self) -> Attr:
        return Attr(self.name, self.type, required=self.required, case_exact=self.case_exact,
                    description=self.description or f"{self.name} (defined by this tenant).")


@lru_cache(maxsize=512)
def user_def(attrs: tuple[CustomAttr, ...]) -> ResourceDef:
    """The User resource of a tenant with these custom attributes (USER itself for none).
    Cached, so equal declarations share one definition (and one filter target)."""
    if not attrs:
        return USER
    schema = SchemaDef(URN_CUSTOM, "CustomUser",
                       "Attributes this tenant defined for its users.",
                       tuple(a.definition() for a in attrs))
    return ResourceDef(USER.name, USER.endpoint, USER.description, USER.core,
                       (*USER.extensions, schema), USER.common)


def custom_schema(rdef: ResourceDef) -> SchemaDef | None:
    return next((s for s in rdef.extensions if s.id == URN_CUSTOM), None)


def canonical_datetime(value: str) -> str:
    """One stored form of a dateTime (UTC, `Z`), so `eq` compares instants, not spellings."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def finish(rdef: ResourceDef, doc: dict[str, Any], previous: dict[str, Any] | None,
           *, whole: bool) -> None:
    """Check (and bring to their stored form) the custom values of a normalised user document.

    `whole` (create, replace): every required attribute must be present. Otherwise (PATCH) a
    required attribute the user had must not be removed; users created before it became
    required are not blocked (a deprovisioning PATCH must always go through)."""
    schema = custom_schema(rdef)
    if schema is None:
        return
    values = doc.get(URN_CUSTOM)
    values = values if isinstance(values, dict) else {}
    before = (previous or {}).get(URN_CUSTOM)
    before = before if isinstance(before, dict) else {}
    for attr in schema.attrs:
        where = f"{URN_CUSTOM}:{attr.name}"
        value = values.get(attr.name)
        if value is None:
            if attr.required and (whole or before.get(attr.name) is not None):
                raise invalid_value(f"{where} is required (a custom attribute this tenant "
                                    "declared required).")
            continue
        if attr.type == "string" and len(value) > MAX_VALUE_LENGTH:
            raise invalid_value(f"{where} is longer than {MAX_VALUE_LENGTH} characters.")
        if attr.type == "integer" and not _INT_MIN <= value <= _INT_MAX:
            raise invalid_value(f"{where} is outside the 64-bit integer range.")
        if attr.type == "dateTime":
            values[attr.name] = canonical_datetime(value)


def filter_value(attr: Attr, op: str, value: Any, where: str) -> str:
    """The filter index form of a comparison value (app.scim.repository.custom.REINDEX
    derives the stored side the same way); a mismatch with the attribute's type is 400
    invalidFilter. Strings that are not caseExact are lower-cased in SQL."""
    if op not in ("eq", "co", "sw"):
        raise invalid_filter(f"{where} is a custom attribute: only eq, co, sw and pr apply "
                             f"to it, not {op}.")
    if attr.type == "string":
        if not isinstance(value, str):
            raise invalid_filter(f'{where} is a string: compare it with a "string".')
        return value
    if op != "eq":
        raise invalid_filter(f"{where} is a custom {attr.type} attribute: only eq and pr apply "
                             f"to it, not {op}.")
    if attr.type == "boolean":
        if not isinstance(value, bool):
            raise invalid_filter(f"{where} is a boolean: compare it with true or false.")
        return "true" if value else "false"
    if attr.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                isinstance(value, float) and not value.is_integer()):
            raise invalid_filter(f"{where} is an integer: compare it with an integer.")
        return str(int(value))
    if isinstance(value, str):
        try:
            return canonical_datetime(value)
        except ValueError:
            pass
    raise invalid_filter(f"{where} is a dateTime: give an ISO 8601 date and time such as "
                         '"2026-01-31T12:00:00Z".')
