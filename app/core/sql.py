"""Small pieces that repositories share around their SQL."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

if TYPE_CHECKING:
    from app.core.tx import Tx


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


@functools.cache
def _insert_sql(table: str, columns: tuple[str, ...], returning: str | None) -> str:
    names = ", ".join(("tenant_id", *columns))
    params = ", ".join(f"${i}" for i in range(1, len(columns) + 2))
    tail = f" RETURNING {returning}" if returning else ""
    return f"INSERT INTO {table} ({names}) VALUES ({params}){tail}"


async def insert_row(tx: Tx, table: str, values: Mapping[str, Any]) -> None:
    """INSERT one row into a tenant table: `tenant_id` (the transaction's tenant) and each of
    `values` (column names from the repository's own code, values bound in order). The
    statement's text depends only on the table and the column names, so asyncpg's
    prepared-statement cache keeps working."""
    await tx.execute(_insert_sql(table, tuple(values), None), tx.tenant_id, *values.values())


async def insert_returning(tx: Tx, table: str, values: Mapping[str, Any], returning: str
                           ) -> asyncpg.Record:
    """`insert_row`, answering the new row's `returning` columns."""
    return expect_row(await tx.fetchrow(_insert_sql(table, tuple(values), returning),
                                        tx.tenant_id, *values.values()))
