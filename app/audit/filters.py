"""Audit log filters and cursors, parsed from query parameters with actionable 400s.

A cursor is an opaque position in the tenant's log: base64url JSON {"v": 1, "p": seq,
"d": "a"|"d"}. `p` is the `seq` of the last event the client has (or, when paging oldest first,
the position up to which the log was read); `d` is the direction it continues in. Positions are
assigned in commit order per tenant (docs/audit.md, "Ordering"), so continuing from a position
never skips or repeats an event, however many arrive meanwhile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from app.core.errors import BadRequest
from app.core.inputs import utc_or_none
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor

Direction = Literal["asc", "desc"]
OUTCOMES = ("success", "failure", "denied")
MAX_EXPORT_LIMIT = 1_000_000

_ACTION = re.compile(r"^[a-z_]+\.[a-z_]+$")
_ACTION_VERB = re.compile(r"^[a-z_]+$")
_ACTION_PREFIX = re.compile(r"^[a-z_]*(\.[a-z_]*)?\*$")
_TEXT_MAX = 200


@dataclass(frozen=True, slots=True)
class AuditFilters:
    actor_id: UUID | None = None
    actor_email: str | None = None
    action: str | None = None
    action_prefix: str | None = None
    action_verb: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    outcome: str | None = None
    after: datetime | None = None
    before: datetime | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def as_metadata(self) -> dict[str, Any]:
        """The filters as given, for the audit event that records the read."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "action_prefix":
                out["action"] = value + "*"
            elif f.name == "action_verb":
                out["action"] = value
            elif isinstance(value, datetime):
                out[f.name] = value.isoformat()
            else:
                out[f.name] = str(value)
        return out


def parse_time(name: str, value: str | None) -> datetime | None:
    """ISO 8601 date or date-time; without a zone it is taken as UTC."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace(" ", "+") if "T" in text else text)
    except ValueError:
        raise BadRequest(
            f"`{name}` must be an ISO 8601 time such as 2026-11-21T09:30:00Z or 2026-11-21 "
            f"(got {value[:64]!r}).", code="invalid_timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if utc_or_none(parsed) is None:
        raise BadRequest(f"`{name}` is outside the supported range (years 1 to 9999 in UTC).",
                         code="invalid_timestamp")
    return parsed


def _text(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > _TEXT_MAX:
        raise BadRequest(f"`{name}` is longer than {_TEXT_MAX} characters.",
                         code="invalid_filter")
    return value


def parse_filters(*, actor: str | None = None, action: str | None = None,
                  resource_type: str | None = None, resource_id: str | None = None,
                  outcome: str | None = None, after: str | None = None,
                  before: str | None = None) -> AuditFilters:
    actor_id: UUID | None = None
    actor_email: str | None = None
    actor = _text("actor", actor)
    if actor is not None:
        try:
            actor_id = UUID(actor)
        except ValueError:
            if "@" not in actor:
                raise BadRequest("`actor` must be a user id (UUID) or an email address.",
                                 code="invalid_actor") from None
            actor_email = actor.strip()
    exact: str | None = None
    prefix: str | None = None
    verb: str | None = None
    if action:
        if _ACTION.match(action):
            exact = action
        elif _ACTION_PREFIX.match(action):
            prefix = action[:-1]
        elif _ACTION_VERB.match(action):
            verb = action  # the action's last dot-separated segment (project.delete: delete)
        else:
            raise BadRequest(
                "`action` must be an action such as project.delete, a verb such as delete "
                "(every resource's delete), or a prefix ending in * such as project.* "
                "(lower-case letters, '_' and at most one '.').",
                code="invalid_action_filter")
    if outcome is not None and outcome not in OUTCOMES:
        raise BadRequest(f"`outcome` must be one of {', '.join(OUTCOMES)}.",
                         code="invalid_outcome")
    t_after = parse_time("after", after)
    t_before = parse_time("before", before)
    if t_after is not None and t_before is not None and t_after >= t_before:
        raise BadRequest("`after` must be earlier than `before` (the range is after <= "
                         "created_at < before).", code="invalid_time_range")
    return AuditFilters(actor_id=actor_id, actor_email=actor_email, action=exact,
                        action_prefix=prefix or None, action_verb=verb,
                        resource_type=_text("resource_type", resource_type),
                        resource_id=_text("resource_id", resource_id), outcome=outcome,
                        after=t_after, before=t_before)


def parse_limit(value: int | None, *, maximum: int = MAX_LIMIT, default: int | None = DEFAULT_LIMIT
                ) -> int | None:
    if value is None:
        return default
    if not 1 <= value <= maximum:
        raise BadRequest(f"`limit` must be between 1 and {maximum:,} (got {value}).",
                         code="limit_out_of_range", maximum=maximum)
    return value


def parse_order(value: str | None) -> Direction | None:
    if value is None or value == "":
        return None
    if value not in ("asc", "desc"):
        raise BadRequest("`order` must be asc (oldest first) or desc (newest first).",
                         code="invalid_order")
    return value  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Position:
    seq: int
    direction: Direction


def encode_position(seq: int, direction: Direction) -> str:
    return encode_cursor({"v": 1, "p": seq, "d": direction[0]})


_BAD_CURSOR = "The cursor is not valid; pass a cursor returned by this API."


def decode_position(cursor: str | None) -> Position | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    seq, d = value.get("p"), value.get("d")
    if (value.get("v") != 1 or not isinstance(seq, int) or isinstance(seq, bool)
            or seq < 0 or seq > 2**62 or d not in ("a", "d")):
        raise BadRequest(_BAD_CURSOR, code="invalid_cursor")
    return Position(seq=seq, direction="asc" if d == "a" else "desc")


def forward_position(cursor: str | None, *, what: str) -> int:
    """The position after which an oldest-first read (export, stream) continues."""
    pos = decode_position(cursor)
    if pos is None:
        return 0
    if pos.direction != "asc":
        raise BadRequest(f"This cursor pages newest first; {what} continues oldest first. Use "
                         "a cursor from an oldest-first page (order=asc), an export "
                         "(X-Drift-Next-Cursor) or the stream (event id).",
                         code="cursor_direction_mismatch")
    return pos.seq
