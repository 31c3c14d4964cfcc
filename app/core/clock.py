"""The one clock. Everything that compares against "now" asks here, so tests can move time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def advance(delta: timedelta) -> None:
    """Move the clock forward (tests)."""
    global _offset, _frozen
    if _frozen is not None:
        _frozen += delta
    else:
        _offset += delta


def freeze(at: datetime | None = None) -> None:
    global _frozen
    _frozen = at or now()


def reset() -> None:
    global _offset, _frozen
    _offset = timedelta(0)
    _frozen = None
