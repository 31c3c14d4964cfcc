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
from app.models import metadata as target_metadata

config = context.config

# `alembic check` compares target_metadata (every domain's models.py, see app/core/models.py)
# with the database the migrations built. Outside the comparison: the partitions of
# audit_events (their parent is compared), and everything models cannot express (RLS
# policies, functions, triggers, views, CHECK constraints, the drift_private and drift_api
# schemas, which are not reflected because only the default schema is compared).
_PARTITIONS_SQL = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relispartition AND n.nspname = current_schema()"
)


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
    partitions: set[str] = set()

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        # Called only when comparing (autogenerate/check), never by `upgrade`: a query here at
        # configure time would open the connection's transaction before Alembic's and leave
        # every migration uncommitted.
        if type_ != "table":
            return True
        if not partitions:
            partitions.update(str(r[0]) for r in connection.exec_driver_sql(_PARTITIONS_SQL))
            partitions.add("")  # looked up (a schema may have no partitions)
        return name not in partitions

    context.configure(connection=connection, target_metadata=target_metadata,
                      transaction_per_migration=True, compare_type=True,
                      compare_server_default=True, include_name=include_name)
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
