"""The pool releases an idle connection in place (app.core.db._Pool) and keeps asyncpg's
guarantees: the released proxy is unusable, the connection is free again, and one released
inside a transaction comes back rolled back, its tenant setting gone."""

from __future__ import annotations

import asyncpg
import pytest

from app.core.runtime import Runtime


async def test_a_released_connection_is_detached_and_free_again(runtime: Runtime) -> None:
    pool = runtime.db.pool
    conn = await pool.acquire()
    idle = pool.get_idle_size()
    assert await conn.fetchval("SELECT 1") == 1
    await pool.release(conn)
    assert pool.get_idle_size() == idle + 1
    with pytest.raises(asyncpg.InterfaceError):
        await conn.fetchval("SELECT 1")  # the proxy no longer reaches the connection
    await pool.release(conn)  # a second release of the same proxy is a no-op


async def test_a_connection_released_in_a_transaction_comes_back_rolled_back(
        runtime: Runtime) -> None:
    pool = runtime.db.pool
    conns = [await pool.acquire() for _ in range(pool.get_size())]
    await conns[0].execute("BEGIN; SELECT set_config('app.tenant_id', "
                           "'5f0c8a53-3bd5-4a4e-9f5e-2f0d7f6b8a11', true)")
    for conn in conns:
        await pool.release(conn)
    # every connection the pool has, the one released mid-transaction among them
    again = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        for conn in again:
            assert not conn.is_in_transaction()
            assert (await conn.fetchval("SELECT current_setting('app.tenant_id', true)")
                    or "") == ""
    finally:
        for conn in again:
            await pool.release(conn)
