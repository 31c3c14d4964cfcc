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
import statistics
import threading
from pathlib import Path

import orjson

from app.core.embedded import EmbeddedPostgres
from bench import wrk
from bench.run import DATA, cpu_seconds, free_port, serve_api, stop_procs, wait_http
from bench.scenarios.scim_common import headers
from bench.scenarios.scim_create import BODY
from bench.wrk import Req, WrkResult


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
    env = {"DRIFT_DATABASE_URL": urls.app_url, "DRIFT_MIGRATION_DATABASE_URL": urls.owner_url,
           "DRIFT_DATA_DIR": str(DATA / "data"), "DRIFT_API_RATE_LIMITS": "",
           "DRIFT_SCIM_RATE_LIMITS": ""}
    sides = {"A": args.a.resolve(), "B": args.b.resolve()}
    ports = {side: free_port() for side in sides}
    procs = {side: serve_api(env, 1, ports[side], cwd=path) for side, path in sides.items()}
    ratios = []
    try:
        for side in sides:
            wait_http(f"http://127.0.0.1:{ports[side]}/readyz")
        for n in range(args.rounds):
            tenant = {"A": tenants[n % 2], "B": tenants[(n + 1) % 2]}
            results: dict[str, WrkResult] = {}

            def drive(side: str, tenant: dict[str, str] = tenant,
                      results: dict[str, WrkResult] = results) -> None:
                load = [Req("POST", "/scim/v2/Users", headers(tokens[tenant[side]], body=True),
                             BODY)]
                results[side] = wrk.run(f"http://127.0.0.1:{ports[side]}", load,
                                        duration=args.duration, connections=args.connections)

            before = {side: cpu_seconds(p.pid) for side, p in procs.items()}
            threads = [threading.Thread(target=drive, args=(side,)) for side in sides]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            cpu = {side: (cpu_seconds(p.pid) - before[side]) / max(1, results[side].requests) * 1e6
                   for side, p in procs.items()}
            a, b = results["A"], results["B"]
            ratio = a.rps / b.rps if b.rps else float("nan")
            ratios.append(ratio)
            print(f"round {n + 1}: A {a.rps:.0f}/s, {a.errors} errors, {cpu['A']:.0f} us CPU/req"
                  f" | B {b.rps:.0f}/s, {b.errors} errors, {cpu['B']:.0f} us CPU/req"
                  f" | A/B {ratio:.3f}", flush=True)
        print(f"median A/B over {len(ratios)} rounds: {statistics.median(ratios):.3f}")
    finally:
        stop_procs(list(procs.values()))
        embedded.stop()


if __name__ == "__main__":
    main()
