"""A fast Splunk-HEC-format receiver for the audit_stream bench scenario.

    python -m bench.hec_receiver --port 9001

Reuses bench/webhook_receiver.py's HTTP/1.1 protocol and stats, but parses each request body
the way HEC's /services/collector/event does: JSON event objects one after another
({"time": ..., "event": {...}, ...}); every event counts as one arrival, its latency is arrival
minus the event's created_at, and `unique` counts distinct seqs. GET /_stats also reports
`gaps`: how often a seq arrived that was not the next one after the highest seen so far.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime

import orjson

from bench import webhook_receiver as base

state = {"high": 0, "gaps": 0}


def _record(body: bytes) -> None:
    now = time.time()
    for line in body.split(b"\n"):
        if not line:
            continue
        obj = orjson.loads(line)
        event = obj["event"]
        if not isinstance(obj["time"], float | int):
            raise ValueError("HEC events carry a numeric time")
        base.arrivals.append(now)
        created = datetime.fromisoformat(event["created_at"].replace("Z", "+00:00"))
        base.latencies.append(now - created.timestamp())
        seq = int(event["seq"])
        base.ids.add(str(seq))
        if seq > state["high"]:
            if state["high"] and seq != state["high"] + 1:
                state["gaps"] += 1
            state["high"] = seq


_stats = base._stats


def _stats_with_gaps() -> bytes:
    out = orjson.loads(_stats())
    out.update(state)
    return orjson.dumps(out)


base._record = _record
base._stats = _stats_with_gaps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(base.serve(args.port))
    else:
        uvloop.run(base.serve(args.port))


if __name__ == "__main__":
    main()
