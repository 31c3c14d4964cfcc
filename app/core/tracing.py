"""OpenTelemetry traces, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/operations.md).

Spans: one SERVER span per HTTP request (RequestContextMiddleware, named `METHOD /route/template`,
continuing an incoming `traceparent`), a CLIENT span per database statement (the asyncpg
instrumentation, installed only when tracing is on), and one span per webhook delivery attempt,
linked to the request that emitted the event: `emit()` stores the request's trace context in
outbox_events.traceparent.

Off (the default), nothing is installed: the middleware and `emit` test one module attribute
(`tracer is None`) and do nothing else, and asyncpg is not wrapped.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("drift.tracing")

tracer: Any = None  # an opentelemetry Tracer while tracing is on
_instrumentor: Any = None


def configure_from_env(service_name: str) -> bool:
    """Turn tracing on (OTLP over HTTP, batched) when OTEL_EXPORTER_OTLP_ENDPOINT is set; the
    exporter reads the other standard OTEL_* variables itself. Idempotent."""
    if tracer is not None or not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return tracer is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)
    log.info("tracing on: OTLP to %s", os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"])
    return True


def install(provider: Any) -> None:
    """Trace with `provider` (a TracerProvider): our spans and asyncpg's."""
    global tracer, _instrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    uninstall()
    tracer = provider.get_tracer("drift-cloud")
    _instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    _instrumentor.instrument(tracer_provider=provider)


def uninstall() -> None:
    global tracer, _instrumentor
    if _instrumentor is not None:
        _instrumentor.uninstrument()
    tracer = _instrumentor = None


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span (None when tracing is off or no span)."""
    if tracer is None:
        return None
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def links_to(traceparent: str | None) -> list[Any]:
    """A span link to the span a stored traceparent names (none if it is absent/invalid)."""
    if not traceparent:
        return []
    from opentelemetry import propagate, trace

    ctx = trace.get_current_span(propagate.extract({"traceparent": traceparent}))
    span_ctx = ctx.get_span_context()
    return [trace.Link(span_ctx)] if span_ctx.is_valid else []


def extract(headers: list[tuple[bytes, bytes]]) -> Any:
    """The parent context an incoming request names (traceparent/tracestate), if any."""
    from opentelemetry import propagate

    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers
               if k in (b"traceparent", b"tracestate")}
    return propagate.extract(carrier)
