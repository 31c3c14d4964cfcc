"""What a batch of audit events looks like on the wire, per destination type.

Every event is the API's event JSON (app.audit.repository.EVENT_JSON, built by PostgreSQL and
passed through as bytes), wrapped the way the destination ingests it:

- splunk_hec: HTTP Event Collector JSON events, one object per line (HEC accepts them
  concatenated): {"time": <epoch seconds.micro>, "host": "drift-cloud", "source": ...,
  "sourcetype": "drift:audit", ["index": ...,] "event": <event>};
  `Authorization: Splunk <token>`.
- datadog: the logs intake's JSON array (v2 /api/v2/logs): one log per event,
  {"ddsource", "service", "hostname", ["ddtags",] "timestamp": <epoch ms>, "message":
  "<action> <outcome>", "evt": {"name", "outcome"}, "usr": {"id", "email"},
  "network": {"client": {"ip"}}, "drift": <event>}; `DD-API-KEY: <key>`.
- https_ndjson: the events as NDJSON (one per line, exactly the export's lines), signed like
  webhooks (app.webhooks.signing: Standard Webhooks and X-Drift-* headers, id
  `aus_<stream>_<first seq>_<last seq>`, stable across retries of the same batch).

With `options.format: ocsf` every event is the OCSF record instead (app.audit.ocsf): HEC's
`event` (sourcetype default drift:audit:ocsf), Datadog's `ocsf` (in place of `drift`; the
other fields are the same), the NDJSON lines (exactly the export's `format=ocsf` lines).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from app.audit import ocsf
from app.core import clock
from app.webhooks.signing import signature_headers

USER_AGENT = b"Drift-Audit-Streams/1.0 (+https://docs.drift.dev/audit#streams-to-siems)"
HOST = "drift-cloud"
DEFAULT_SOURCETYPE = "drift:audit"
DEFAULT_SOURCE = "drift-cloud:audit"
DEFAULT_SERVICE = "drift-cloud"
DEFAULT_DDSOURCE = "drift"


def _ocsf(options: dict[str, Any]) -> bool:
    return options.get("format") == "ocsf"


def _event(r: asyncpg.Record, options: dict[str, Any]) -> bytes:
    """The event's JSON bytes in the stream's format."""
    return ocsf.event_bytes(bytes(r["j"])) if _ocsf(options) else bytes(r["j"])


def _hec(rows: Sequence[asyncpg.Record], options: dict[str, Any]) -> bytes:
    default = DEFAULT_SOURCETYPE + (":ocsf" if _ocsf(options) else "")
    head = {"host": HOST, "source": options.get("source") or DEFAULT_SOURCE,
            "sourcetype": options.get("sourcetype") or default}
    if options.get("index"):
        head["index"] = options["index"]
    # {"time":...,<head>,"event":<event>}: the event bytes go in as they are
    middle = orjson.dumps(head)[1:-1]
    return b"\n".join(b'{"time":' + r["ts"].encode() + b"," + middle + b',"event":'
                      + _event(r, options) + b"}" for r in rows) + b"\n"


def _datadog(rows: Sequence[asyncpg.Record], options: dict[str, Any]) -> bytes:
    out: list[dict[str, Any]] = []
    for r in rows:
        ev = orjson.loads(r["j"])
        log: dict[str, Any] = {
            "ddsource": options.get("source") or DEFAULT_DDSOURCE,
            "service": options.get("service") or DEFAULT_SERVICE,
            "hostname": HOST,
            "timestamp": round(float(r["ts"]) * 1000),
            "message": f"{ev['action']} {ev['outcome']}",
            "evt": {"name": ev["action"], "outcome": ev["outcome"]},
            "usr": {"id": ev["actor"]["id"], "email": ev["actor"]["email"]},
            "network": {"client": {"ip": ev["ip"]}},
        }
        if _ocsf(options):
            log["ocsf"] = ocsf.to_ocsf(ev)
        else:
            log["drift"] = ev
        if options.get("tags"):
            log["ddtags"] = options["tags"]
        out.append(log)
    return orjson.dumps(out)


def _ndjson(rows: Sequence[asyncpg.Record], options: dict[str, Any]) -> bytes:
    return b"".join(_event(r, options) + b"\n" for r in rows)


def batch_request(type_: str, stream_id: UUID, rows: Sequence[asyncpg.Record],
                  options: dict[str, Any], credential: bytes
                  ) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """(headers, body) of one push. `credential`: the HEC token, the Datadog API key, or the
    HMAC key of the NDJSON stream's secret."""
    first, last = int(rows[0]["seq"]), int(rows[-1]["seq"])
    common = [(b"User-Agent", USER_AGENT), (b"X-Drift-Audit-First-Seq", str(first).encode()),
              (b"X-Drift-Audit-Last-Seq", str(last).encode())]
    if type_ == "splunk_hec":
        return [*common, (b"Content-Type", b"application/json"),
                (b"Authorization", b"Splunk " + credential)], _hec(rows, options)
    if type_ == "datadog":
        return [*common, (b"Content-Type", b"application/json"),
                (b"DD-API-KEY", credential)], _datadog(rows, options)
    body = _ndjson(rows, options)
    signed = signature_headers([credential], f"aus_{stream_id.hex}_{first}_{last}",
                               int(clock.now().timestamp()), body)
    return [*common, (b"Content-Type", b"application/x-ndjson"),
            *((k.encode(), v.encode()) for k, v in signed.items())], body
