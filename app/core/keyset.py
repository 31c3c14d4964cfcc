"""The one keyset page query every REST list uses, and the one placeholder builder.

A page is ordered by a (time, id) key and fetched with `limit + 1` rows (the extra row says
whether there is more). The total of the filtered set rides along as a scalar subquery, so a
list costs one round trip: with one-flight reads (app.core.tx) that is one statement that
also verifies the credential and enters the tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from app.core.tx import Tx


class Params:
    """Collects bound parameters; `add` returns the placeholder (`$n`)."""

    def __init__(self, values: list[Any] | None = None) -> None:
        self.values: list[Any] = values if values is not None else []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


async def keyset_page(tx: Tx, *, columns: str, source: str, params: Params | None = None,
                      where: Sequence[str] = (), count_source: str | None = None,
                      key: tuple[str, ...] = ("created_at", "id"), newest_first: bool = False,
                      after: tuple[Any, ...] | None, limit: int
                      ) -> tuple[list[asyncpg.Record], int]:
    """Rows of `source` matching `where` (fragments using `params`' placeholders), ordered by `key`
    (descending with `newest_first`; usually (time, id), or one unique column such as a
    sequence number), past the `after` key (one value per key column), at most `limit + 1`;
    and the
    number of all matching rows (counted over `count_source`, default `source`, which must
    name the same aliases the `where` fragments use)."""
    params = params or Params()
    matching = " AND ".join(where) or "true"
    total_sql = f"(SELECT count(*) FROM {count_source or source} WHERE {matching})"
    count_args = list(params.values)
    conds = [matching]
    if after is not None:
        past = "<" if newest_first else ">"
        if len(after) != len(key):
            raise ValueError("the after key needs one value per key column")
        conds.append(f"({', '.join(key)}) {past} ({', '.join(params.add(v) for v in after)})")
    page_limit = params.add(limit + 1)
    order = " DESC" if newest_first else ""
    rows = await tx.fetch(
        f"SELECT {columns}, {total_sql} AS _total FROM {source} WHERE {' AND '.join(conds)}"
        f" ORDER BY {', '.join(k + order for k in key)} LIMIT {page_limit}", *params.values)
    if rows:
        return rows, int(rows[0]["_total"])
    if after is None:
        return rows, 0
    return rows, int(await tx.fetchval(f"SELECT {total_sql}", *count_args))
