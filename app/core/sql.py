"""Small pieces that repositories share around their SQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


def expect_row(row: asyncpg.Record | None) -> asyncpg.Record:
    """A row the statement must have returned (an INSERT ... RETURNING, a read of the row just
    written): its absence is a bug, not a user's error, so it raises (a 500)."""
    if row is None:
        raise RuntimeError("expected row is not None")
    return row


def update_set(row_id: UUID, now: datetime, fields: Mapping[str, Any], columns: Iterable[str]
               ) -> tuple[str, list[Any]]:
    """The SET list and arguments of `UPDATE <table> SET <sets> WHERE id = $1`: `updated_at`
    set to `now` ($2) and each of `columns` present in `fields` to its value (bound)."""
    sets, args = ["updated_at = $2"], [row_id, now]
    for column in columns:
        if column in fields:
            args.append(fields[column])
            sets.append(f"{column} = ${len(args)}")
    return ", ".join(sets), args
