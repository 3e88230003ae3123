"""A ready OpenTelemetry SDK for applications that have none (needs the ``otel`` extra).

>>> from langgraph_observe.otel_setup import setup_otel
>>> from langgraph_observe.sinks.otel import OTelSink
>>> tracer_provider, meter_provider = setup_otel("http://localhost:4318")  # doctest: +SKIP
>>> sink = OTelSink(tracer_provider, meter_provider)  # doctest: +SKIP

``setup_otel`` builds providers and returns them; it does not install them as the global
ones (call ``opentelemetry.trace.set_tracer_provider`` yourself if you want that).
Shut them down when the application ends: ``tracer_provider.shutdown()`` and
``meter_provider.shutdown()`` flush what is left.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["INSTALL_HINT", "setup_otel"]

INSTALL_HINT = "pip install 'langgraph-observe[otel]'"


def _sdk() -> Any:
    try:
        from opentelemetry.exporter.otlp.proto.http import metric_exporter, trace_exporter
        from opentelemetry.sdk import metrics, resources, trace
        from opentelemetry.sdk.metrics import export as metrics_export
        from opentelemetry.sdk.trace import export as trace_export
    except ImportError as exc:
        raise ImportError(
            f"setup_otel needs the OpenTelemetry SDK and OTLP/HTTP exporter: {INSTALL_HINT}"
        ) from exc
    return (
        trace,
        trace_export,
        trace_exporter,
        metrics,
        metrics_export,
        metric_exporter,
        resources,
    )


def setup_otel(
    endpoint: str | None = None,
    service_name: str = "langgraph-app",
    headers: Mapping[str, str] | None = None,
    *,
    metric_interval_s: float = 60.0,
    timeout_s: float = 10.0,
) -> tuple[TracerProvider, MeterProvider]:
    """An SDK tracer provider (batching OTLP/HTTP span exporter) and meter provider
    (periodic OTLP/HTTP metric reader).

    Args:
        endpoint: the collector's base URL, e.g. ``http://localhost:4318``; ``/v1/traces``
            and ``/v1/metrics`` are appended. ``None`` keeps the exporters' own defaults
            (``OTEL_EXPORTER_OTLP_*`` environment variables, else ``localhost:4318``).
        service_name: the ``service.name`` resource attribute.
        headers: extra HTTP headers for both exporters (e.g. an API key).
        metric_interval_s: seconds between metric exports.
        timeout_s: time limit of one export request, retries included.

    Raises:
        ImportError: the SDK or the exporter is not installed (with the install hint).
    """
    (trace, trace_export, trace_exporter, metrics, metrics_export, metric_exporter, resources) = (
        _sdk()
    )
    resource = resources.Resource.create({"service.name": service_name})
    base = endpoint.rstrip("/") if endpoint else None
    extra = dict(headers) if headers else None
    span_exporter = trace_exporter.OTLPSpanExporter(
        endpoint=f"{base}/v1/traces" if base else None, headers=extra, timeout=timeout_s
    )
    tracer_provider = trace.TracerProvider(resource=resource)
    tracer_provider.add_span_processor(trace_export.BatchSpanProcessor(span_exporter))
    reader = metrics_export.PeriodicExportingMetricReader(
        metric_exporter.OTLPMetricExporter(
            endpoint=f"{base}/v1/metrics" if base else None, headers=extra, timeout=timeout_s
        ),
        export_interval_millis=metric_interval_s * 1000,
    )
    meter_provider = metrics.MeterProvider(resource=resource, metric_readers=[reader])
    return tracer_provider, meter_provider
