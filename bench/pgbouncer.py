"""A pgbouncer of our own in transaction pooling mode, in front of a PostgreSQL server.

Runs Debian's `pgbouncer` binary (installed by `make install`) in the foreground with its own
ini on a free loopback port; never the system service. Used by the scale-out tests
(tests/scale) and the `scale_out` bench scenario. As root pgbouncer refuses to run, so it is
started with `-u` as the user owning the server's socket directory (the embedded server runs
as its own system user), else as nobody.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from bench.process import stop_process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_of(url: str) -> tuple[str, int, str]:
    """host (or socket directory), port and database of a postgresql:// URL."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    host = query.get("host") or parts.hostname or "127.0.0.1"
    port = int(query.get("port") or parts.port or 5432)
    return host, port, unquote(parts.path.lstrip("/"))


class PgBouncer:
    """`PgBouncer(server_url, pool_size).start()`; `.url` is server_url's role through it."""

    def __init__(self, server_url: str, pool_size: int = 2) -> None:
        self.server_url = server_url
        self.pool_size = pool_size
        self.port = _free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="drift-pgbouncer-"))
        self.log = self.workdir / "pgbouncer.log"
        self.proc: subprocess.Popen[bytes] | None = None
        parts = urlsplit(server_url)
        self.user, self.password = unquote(parts.username or ""), unquote(parts.password or "")
        _, _, self.database = server_of(server_url)
        self.url = (f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
                    f"@127.0.0.1:{self.port}/{quote(self.database)}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self) -> PgBouncer:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        host, pg_port, database = server_of(self.server_url)
        auth = self.workdir / "userlist.txt"
        auth.write_text(f'"{self.user}" "{self.password}"\n')
        ini = self.workdir / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"{database} = host={host} port={pg_port} dbname={database}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = scram-sha-256\n"
            f"auth_file = {auth}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "min_pool_size = 0\n"
            "reserve_pool_size = 0\n"
            "max_client_conn = 1000\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        cmd = [binary, str(ini)]
        if os.geteuid() == 0:  # pgbouncer will not run as root
            run_as = (pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/")
                      else "nobody")
            for path in (self.workdir, auth, ini):
                shutil.chown(path, run_as)
            cmd = [binary, "-u", run_as, str(ini)]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("pgbouncer exited: " + self.log_text())
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("pgbouncer did not listen: " + self.log_text())

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def version() -> str:
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "unknown"
