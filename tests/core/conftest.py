"""Connections for the catalogue checks, one per test: as the schema owner, as the runtime
role, and as the superuser (who sees every tenant's rows)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.core.db import connect
from tests.conftest import DbInfo


@pytest.fixture
async def owner_conn(test_db: DbInfo) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(test_db.owner_url)
    yield conn
    await conn.close()


@pytest.fixture
async def app_conn(test_db: DbInfo) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(test_db.app_url)
    yield conn
    await conn.close()


@pytest.fixture
async def superuser_conn(test_db: DbInfo) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(test_db.superuser_url)
    yield conn
    await conn.close()
