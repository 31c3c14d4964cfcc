"""Two checkouts of the service side by side under the same load at the same time: the way to
weigh a change of a few percent on a machine whose speed moves by more than that within a
minute (docs/bench.md, "Side by side").

    .venv/bin/python -m bench.side_by_side /path/to/checkout-a /path/to/checkout-b \\
        --rounds 6 --duration 10

Each checkout serves one API process of one worker (`drift-cloud serve --no-worker`, started
from that checkout with its own code) on this repository's bench database (`.drift-bench`,
which `make bench` seeds; it must hold the schema both checkouts expect). Both get the same
wrk load at once, scim_create's POST /scim/v2/Users, each in a tenant of its own (so one
side's creates do not queue on the other's audit chain), and the tenants swap sides every
round. Reported per round: each
side's requests/s, errors and API CPU per request (the process tree's user + system), and
A/B; then the median of A/B."""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import psutil

from app.core.embedded import EmbeddedPostgres
from bench import wrk
from bench.run import DATA, free_port
from bench.scenarios.scim_common import headers
from bench.scenarios.scim_create import BODY
from bench.wrk import Req, WrkResult


def _serve(checkout: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--no-worker", "--workers", "1", "--port",
         str(port)], cwd=checkout, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)


def _ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz",
                                        timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise RuntimeError(f"the server on port {port} did not get ready")


def _cpu(proc: subprocess.Popen[bytes]) -> float:
    root = psutil.Process(proc.pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        times = p.cpu_times()
        total += times.user + times.system
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16, help="per side")
    args = parser.parse_args()
    tokens_file = DATA / "scim_tokens.json"
    if not tokens_file.exists():
        raise SystemExit("no bench database with SCIM tokens: run "
                         "`make bench BENCH_ARGS=\"--scenarios scim_filter\"` first")
    tokens: dict[str, str] = orjson.loads(tokens_file.read_bytes())
    if len(tokens) < 2:
        raise SystemExit("the bench database holds fewer than two SCIM tokens")
    tenants = list(tokens)[:2]
    embedded = EmbeddedPostgres(DATA)
    urls = embedded.start(stop_on_exit=False)
    env = {**os.environ, "DRIFT_DATABASE_URL": urls.app_url,
           "DRIFT_MIGRATION_DATABASE_URL": urls.owner_url, "DRIFT_DATA_DIR": str(DATA / "data"),
           "DRIFT_API_RATE_LIMITS": "", "DRIFT_SCIM_RATE_LIMITS": "",
           "DRIFT_LOG_LEVEL": "warning"}
    sides = {"A": args.a.resolve(), "B": args.b.resolve()}
    ports = {side: free_port() for side in sides}
    procs = {side: _serve(path, ports[side], env) for side, path in sides.items()}
    ratios = []
    try:
        for side in sides:
            _ready(ports[side])
        for n in range(args.rounds):
            tenant = {"A": tenants[n % 2], "B": tenants[(n + 1) % 2]}
            results: dict[str, WrkResult] = {}

            def drive(side: str, tenant: dict[str, str] = tenant,
                      results: dict[str, WrkResult] = results) -> None:
                load = [Req("POST", "/scim/v2/Users", headers(tokens[tenant[side]], body=True),
                             BODY)]
                results[side] = wrk.run(f"http://127.0.0.1:{ports[side]}", load,
                                        duration=args.duration, connections=args.connections)

            before = {side: _cpu(p) for side, p in procs.items()}
            threads = [threading.Thread(target=drive, args=(side,)) for side in sides]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            cpu = {side: (_cpu(p) - before[side]) / max(1, results[side].requests) * 1e6
                   for side, p in procs.items()}
            a, b = results["A"], results["B"]
            ratio = a.rps / b.rps if b.rps else float("nan")
            ratios.append(ratio)
            print(f"round {n + 1}: A {a.rps:.0f}/s, {a.errors} errors, {cpu['A']:.0f} us CPU/req"
                  f" | B {b.rps:.0f}/s, {b.errors} errors, {cpu['B']:.0f} us CPU/req"
                  f" | A/B {ratio:.3f}", flush=True)
        print(f"median A/B over {len(ratios)} rounds: {statistics.median(ratios):.3f}")
    finally:
        for p in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, 15)
        for p in procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
        embedded.stop()


if __name__ == "__main__":
    main()
