"""Prometheus metrics of both services, on prometheus_client's default registry.

What a service gets from `MessagingMetrics` / `instrument_app` (see `telemetry/__init__.py`):
- HTTP: `orderflow_http_requests_total{service,method,route,status}` and
  `orderflow_http_request_duration_seconds{service,method,route}` (route = the template);
- the consumer: `orderflow_messages_received_total{service,queue,event_type}`,
  `orderflow_messages_handled_total{service,queue,event_type,outcome}` (succeeded, retried,
  dead_lettered), `orderflow_message_handler_duration_seconds{service,queue,event_type}` and
  `orderflow_message_lag_seconds{queue}`;
- the outbox relay: `orderflow_messages_published_total{service,queue,outcome}` (sent, failed)
  and `orderflow_outbox_publish_seconds{service,queue}`;
- sampled every METRICS_SAMPLE_INTERVAL_S (5 s): `orderflow_outbox_backlog{service}`,
  `orderflow_outbox_oldest_age_seconds{service}` and `orderflow_queue_messages{queue,state}`
  (visible, in_flight, delayed) for the consumed queue and its DLQ.

Business metrics (orders, payments) live in each service's own `metrics` module. In tests, read
values with `REGISTRY.get_sample_value(...)` as deltas: the registry is process-wide.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import disable_created_metrics

from orderflow_messaging import MessageHandler, Publisher
from orderflow_servicekit.runtime import (
    BackgroundTask,
    RuntimeMiddleware,
    RuntimeSpec,
    ServiceRuntime,
)
from orderflow_servicekit.telemetry.metrics._http import HttpMetrics, route_template
from orderflow_servicekit.telemetry.metrics._instruments import FAST_BUCKETS, SLOW_BUCKETS
from orderflow_servicekit.telemetry.metrics._messaging import (
    MeasuredPublisher,
    event_age_s,
    event_type_label,
    measure_handler,
    measure_publisher,
)
from orderflow_servicekit.telemetry.metrics._samplers import (
    Sampler,
    sample_outbox,
    sample_queues,
)

__all__ = [
    "FAST_BUCKETS",
    "SLOW_BUCKETS",
    "HttpMetrics",
    "MeasuredPublisher",
    "MessagingMetrics",
    "Sampler",
    "event_age_s",
    "event_type_label",
    "instrument_app",
    "measure_handler",
    "measure_publisher",
    "route_template",
    "sample_outbox",
    "sample_queues",
    "sampler_for",
]


def sampler_for(spec: RuntimeSpec, runtime: ServiceRuntime) -> Sampler:
    """The sampler of `spec`'s outbox, consumed queue and that queue's DLQ."""
    consumed = spec.consumed_queue()
    return Sampler(
        engine=runtime.engine,
        outbox=spec.outbox,
        service=spec.service,
        client=runtime.client,
        queues={name: runtime.queue_urls[name] for name in (consumed.name, consumed.dlq_name)},
        interval_s=spec.settings.metrics_sample_interval_s,
    )


class MessagingMetrics(RuntimeMiddleware):
    """The consumer's and the relay's metrics, and the sampler of the outbox and the queues."""

    def wrap_handler(self, handler: MessageHandler, spec: RuntimeSpec) -> MessageHandler:
        return measure_handler(spec.service, spec.consumes)(handler)

    def wrap_publisher(self, publisher: Publisher, spec: RuntimeSpec) -> Publisher:
        return measure_publisher(spec.service)(publisher)

    def background(self, spec: RuntimeSpec) -> BackgroundTask:
        async def sample(runtime: ServiceRuntime) -> None:
            await sampler_for(spec, runtime).run()

        return sample


def instrument_app(app: FastAPI, service: str) -> None:
    """Count and time `app`'s HTTP requests."""
    # `_created` series double what a scrape carries and nothing here reads them.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    app.add_middleware(HttpMetrics, service=service)
