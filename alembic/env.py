"""Alembic environment: async (asyncpg), always as the owner role."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import asyncpg
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from alembic import context
from app.core.db import asyncpg_connect_kwargs

config = context.config


def _owner_url() -> str:
    url = config.attributes.get("owner_url")
    if url:
        return str(url)
    from app.config import get_settings

    settings = get_settings()
    if not settings.migration_database_url:
        raise RuntimeError("DRIFT_MIGRATION_DATABASE_URL is not set (use `drift-cloud migrate`)")
    if "app_role" not in config.attributes:
        config.attributes["app_role"] = settings.app_role
    return settings.migration_database_url


def _do_run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run() -> None:
    kwargs: dict[str, Any] = asyncpg_connect_kwargs(_owner_url())

    async def creator() -> asyncpg.Connection:
        return await asyncpg.connect(**kwargs)

    engine = create_async_engine("postgresql+asyncpg://", async_creator=creator,
                                 poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_do_run)
    await engine.dispose()


def _run_sync() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_run())
        return
    # Called from inside a running loop: run on a thread with its own loop.
    err: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(_run())
        except BaseException as exc:
            err.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if err:
        raise err[0]


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) mode is not supported; migrations need the server")
_run_sync()
