"""Driving wrk: a generated Lua script rotates through a list of requests.

Bodies containing UNIQUE get a value unique to each request of a run (the run id, wrk's thread
number and a per-thread counter), so creation scenarios never collide, whatever -t is.
`run(..., statuses=True)` also counts responses by HTTP status (a Lua `response` callback,
which makes wrk hand every response to Lua: a little more client CPU).

`run(..., by_tag=True)` measures each class of request (Req.tag) on its own, in the same run:
every request carries an `X-Request-ID: <tag>.<thread>.<n>` header, which the service echoes,
and the Lua script times it from request() to response() with a monotonic clock (LuaJIT FFI,
clock_gettime), the same span wrk itself measures. Per tag: requests, responses by status and
p50/p99 latency (0.1 ms buckets). Requests are then formatted per request instead of once."""

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
    tag: str = ""  # a class of requests, reported on its own with run(by_tag=True)


@dataclass(frozen=True)
class TagResult:
    requests: int
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors + non-2xx/3xx responses
    statuses: dict[int, int] = field(default_factory=dict)  # with statuses or by_tag
    tags: dict[str, TagResult] = field(default_factory=dict)  # with run(by_tag=True)


def _lua_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def lua_script(requests: list[Req], *, statuses: bool = False) -> str:
    run = uuid.uuid4().hex[:12]
    # setup() runs in wrk's main Lua state once per thread, before that thread's init()
    lines = ["local threads = {}", "setup = function(thread)",
             "  table.insert(threads, thread)", "  thread:set('tid', #threads)", "end",
             "local reqs = {}", "local tmpl = {}", "init = function(args)"]
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
              "'-' .. tid .. '-' .. n))",
              "  end", "  return reqs[i]", "end"]
    if statuses:
        # counts is a global of each thread's state, so done() can read it with thread:get
        lines += ["counts = {}", "response = function(status, headers, body)",
                  "  counts[status] = (counts[status] or 0) + 1", "end",
                  "done = function(summary, latency, requests)",
                  "  local total = {}",
                  "  for _, thread in ipairs(threads) do",
                  "    for status, k in pairs(thread:get('counts')) do",
                  "      total[status] = (total[status] or 0) + k",
                  "    end", "  end",
                  "  for status, k in pairs(total) do",
                  "    io.write(string.format('status %d %d\\n', status, k))",
                  "  end", "end"]
    return "\n".join(lines) + "\n"


_TAGGED_RUNTIME = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end
local i, n, seq = 0, 0, 0
local pending = {}
-- Globals of each thread's state, read by done() with thread:get. Flat on purpose: wrk's
-- thread:get copies one level of table (nested tables crash it).
hist = {}   -- "tag bucket" -> count (latency in 0.1 ms buckets)
codes = {}  -- "tag status" -> count
request = function()
  i = (i % #reqs) + 1
  local r = reqs[i]
  seq = seq + 1
  local id = r[5] .. "." .. tid .. "." .. seq
  r[3]["X-Request-ID"] = id
  local body = r[4]
  if type(body) == "table" then
    n = n + 1
    body = table.concat(body, RUN .. "-" .. tid .. "-" .. n)
  end
  pending[id] = now_us()
  return wrk.format(r[1], r[2], r[3], body)
end
response = function(status, headers, body)
  local id = headers["x-request-id"] or headers["X-Request-ID"]
  local t0 = id and pending[id]
  local tag = "?"
  if t0 then
    pending[id] = nil
    tag = string.match(id, "^([^.]+)%.")
    local key = tag .. " " .. math.floor((now_us() - t0) / 100)
    hist[key] = (hist[key] or 0) + 1
  end
  local key = tag .. " " .. status
  codes[key] = (codes[key] or 0) + 1
end
local function merge(name)
  local out = {}  -- tag -> {number -> count}
  for _, thread in ipairs(threads) do
    for key, k in pairs(thread:get(name)) do
      local tag, num = string.match(key, "^(%S+) (%d+)$")
      num = tonumber(num)
      local m = out[tag]
      if not m then m = {}; out[tag] = m end
      m[num] = (m[num] or 0) + k
    end
  end
  return out
end
done = function(summary, latency, requests)
  for tag, h in pairs(merge("hist")) do
    local keys, total = {}, 0
    for b, k in pairs(h) do table.insert(keys, b); total = total + k end
    table.sort(keys)
    local function pct(q)
      local want, acc = math.ceil(total * q), 0
      for _, b in ipairs(keys) do
        acc = acc + h[b]
        if acc >= want then return (b + 1) / 10 end
      end
      return 0
    end
    io.write(string.format("tag %s %d %.1f %.1f\n", tag, total, pct(0.5), pct(0.99)))
  end
  for tag, c in pairs(merge("codes")) do
    for status, k in pairs(c) do
      io.write(string.format("tagstatus %s %d %d\n", tag, status, k))
    end
  end
end
"""

_TAG = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def tagged_lua_script(requests: list[Req]) -> str:
    """The by-tag script: requests are kept as parts and formatted per request."""
    run = uuid.uuid4().hex[:12]
    lines = ["local threads = {}", "setup = function(thread)",
             "  table.insert(threads, thread)", "  thread:set('tid', #threads)", "end",
             f"local RUN = {_lua_str(run)}", "local reqs = {}", "init = function(args)"]
    for i, r in enumerate(requests, 1):
        if not _TAG.match(r.tag):
            raise ValueError(f"tag {r.tag!r}: 1-40 of A-Z a-z 0-9 _ -")
        headers = "{" + ", ".join(f"[{_lua_str(k)}] = {_lua_str(v)}"
                                  for k, v in r.headers.items()) + "}"
        if r.body is None:
            body = "nil"
        elif UNIQUE in r.body:
            body = "{" + ", ".join(_lua_str(p) for p in r.body.split(UNIQUE)) + "}"
        else:
            body = _lua_str(r.body)
        lines.append(f"  reqs[{i}] = {{{_lua_str(r.method)}, {_lua_str(r.path)}, {headers}, "
                     f"{body}, {_lua_str(r.tag)}}}")
    lines.append("end")
    return "\n".join(lines) + _TAGGED_RUNTIME


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
    statuses = {int(code): int(k)
                for code, k in re.findall(r"^status (\d+) (\d+)$", output, re.MULTILINE)}
    tag_codes: dict[str, dict[int, int]] = {}
    for tag, code, k in re.findall(r"^tagstatus (\S+) (\d+) (\d+)$", output, re.MULTILINE):
        tag_codes.setdefault(tag, {})[int(code)] = int(k)
        statuses[int(code)] = statuses.get(int(code), 0) + int(k)
    tags = {tag: TagResult(requests=int(k), p50_ms=float(a), p99_ms=float(b),
                           statuses=dict(sorted(tag_codes.get(tag, {}).items())))
            for tag, k, a, b in re.findall(r"^tag (\S+) (\d+) ([\d.]+) ([\d.]+)$", output,
                                           re.MULTILINE)}
    for tag in tag_codes.keys() - tags.keys():  # responses without a known request id
        tags[tag] = TagResult(requests=sum(tag_codes[tag].values()), p50_ms=0.0, p99_ms=0.0,
                              statuses=dict(sorted(tag_codes[tag].items())))
    return WrkResult(rps=rps, p50_ms=p50, p99_ms=p99, requests=total, errors=errors,
                     statuses=dict(sorted(statuses.items())), tags=dict(sorted(tags.items())))


def run(base_url: str, requests: list[Req], *, duration: int, connections: int,
        threads: int = 1, statuses: bool = False, by_tag: bool = False,
        timeout: int | None = None) -> WrkResult:
    """`timeout`: seconds before wrk gives up on a response (a socket timeout, counted as an
    error); wrk's default is 2."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(tagged_lua_script(requests) if by_tag
                 else lua_script(requests, statuses=statuses))
        script = fh.name
    extra = [f"--timeout={timeout}s"] if timeout else []
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
             *extra, "-s", script, base_url],
            capture_output=True, text=True, timeout=duration + (timeout or 2) + 60,
            check=True).stdout
    finally:
        Path(script).unlink(missing_ok=True)
    return parse(out)
