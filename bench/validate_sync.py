"""Validation time of the largest sync body (10,000 violations), best of 15 runs.

    .venv/bin/python bench/validate_sync.py
"""

from __future__ import annotations

import time
import uuid

import orjson

from app.sync.schemas import SyncIn

BODY = orjson.dumps({
    "project_id": str(uuid.uuid4()),
    "scan": {"id": "s", "started_at": "2020-01-01T00:00:00Z",
             "completed_at": "2020-01-01T00:00:01Z", "files_scanned": 1, "duration_ms": 1},
    "violations": [{"fingerprint": f"f{i}", "rule": "r", "severity": "high", "file": "a/b.py",
                    "line": 3, "message": "m" * 50} for i in range(10_000)]})


def main() -> None:
    runs = []
    for _ in range(15):
        start = time.perf_counter()
        SyncIn.model_validate_json(BODY)
        runs.append(time.perf_counter() - start)
    print(f"SyncIn, 10,000 violations: {min(runs) * 1000:.1f} ms (best of 15)")


if __name__ == "__main__":
    main()
