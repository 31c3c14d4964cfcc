"""A row a statement must have returned (an INSERT ... RETURNING, a read of the row just
written): its absence is a bug, not a user's error, so it raises (a 500)."""

from __future__ import annotations

import asyncpg


def expect_row(row: asyncpg.Record | None) -> asyncpg.Record:
    if row is None:
        raise RuntimeError("expected row is not None")
    return row
