"""Driving wrk: a generated Lua script rotates through a list of requests."""

from __future__ import annotations

import re
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

# In a request body, replaced by a value unique to each request of a run (creation scenarios).
UNIQUE = "{{unique}}"


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors + non-2xx/3xx responses


def _lua_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def lua_script(requests: list[Req]) -> str:
    run = uuid.uuid4().hex[:12]
    lines = ["local reqs = {}", "local tmpl = {}", "init = function(args)"]
    for i, r in enumerate(requests, 1):
        headers = "{" + ", ".join(f"[{_lua_str(k)}] = {_lua_str(v)}"
                                  for k, v in r.headers.items()) + "}"
        if r.body is not None and UNIQUE in r.body:
            parts = "{" + ", ".join(_lua_str(p) for p in r.body.split(UNIQUE)) + "}"
            lines.append(f"  tmpl[{i}] = {{{_lua_str(r.method)}, {_lua_str(r.path)}, "
                         f"{headers}, {parts}}}")
            lines.append(f"  reqs[{i}] = false")
            continue
        body = _lua_str(r.body) if r.body is not None else "nil"
        lines.append(f"  reqs[{i}] = wrk.format({_lua_str(r.method)}, {_lua_str(r.path)}, "
                     f"{headers}, {body})")
    lines += ["end", "local i = 0", "local n = 0", "request = function()",
              "  i = (i % #reqs) + 1", "  local t = tmpl[i]",
              "  if t then", "    n = n + 1",
              f"    return wrk.format(t[1], t[2], t[3], table.concat(t[4], {_lua_str(run)} .. "
              "'-' .. n))",
              "  end", "  return reqs[i]", "end"]
    return "\n".join(lines) + "\n"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text.strip())
    if not m:
        raise ValueError(f"unparsable latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse(output: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if m:
        errors += sum(int(x) for x in m.groups())
    return WrkResult(rps=rps, p50_ms=p50, p99_ms=p99, requests=total, errors=errors)


def run(base_url: str, requests: list[Req], *, duration: int, connections: int,
        threads: int = 1) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua_script(requests))
        script = fh.name
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
             "-s", script, base_url],
            capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    finally:
        Path(script).unlink(missing_ok=True)
    return parse(out)
