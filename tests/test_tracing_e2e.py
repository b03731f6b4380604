"""One order, one trace, across both services and SQS: the done-when test of tracing.

`orderflow up` runs both services as real processes, exporting over OTLP/HTTP to a small receiver
this test runs on a free loopback port (it decodes the `ExportTraceServiceRequest` protobufs the
SDK sends). Each order placed must come back as one trace whose spans, from both services, chain
parent to child:

    POST /orders (SERVER, order-service)
    └─ orders publish (PRODUCER, order-service: the outbox relay)
       └─ orders process (CONSUMER, payment-service)
          ├─ payment provider charge (CLIENT, payment-service)
          └─ payment-results publish (PRODUCER, payment-service: its outbox relay)
             └─ payment-results process (CONSUMER, order-service)
                └─ order status update (INTERNAL, order-service)
"""

from __future__ import annotations

import gzip
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from orderflow_testkit.waiting import ConditionTimeout, wait_for_sync

if TYPE_CHECKING:
    from tests.conftest import RunningSystem, StartSystem

pytestmark = pytest.mark.e2e

ORDER: Final = "order-service"
PAYMENT: Final = "payment-service"
SERVER: Final = ProtoSpan.SPAN_KIND_SERVER
CLIENT: Final = ProtoSpan.SPAN_KIND_CLIENT
PRODUCER: Final = ProtoSpan.SPAN_KIND_PRODUCER
CONSUMER: Final = ProtoSpan.SPAN_KIND_CONSUMER
INTERNAL: Final = ProtoSpan.SPAN_KIND_INTERNAL

CLIENT_TRACE_ID: Final = "5b8efff798038103d269b633813fc60c"
CLIENT_SPAN_ID: Final = "eee19b7ec3c1b174"

# From the status update up to the request: (service, span name, kind) of each ancestor in turn.
CHAIN: Final = (
    (ORDER, "order status update", INTERNAL),
    (ORDER, "payment-results process", CONSUMER),
    (PAYMENT, "payment-results publish", PRODUCER),
    (PAYMENT, "orders process", CONSUMER),
    (ORDER, "orders publish", PRODUCER),
    (ORDER, "POST /orders", SERVER),
)


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str | None
    attributes: dict[str, Any]

    def describe(self) -> str:
        kind = ProtoSpan.SpanKind.Name(self.kind).removeprefix("SPAN_KIND_")
        return f"{self.name} ({kind}, {self.service}) {self.span_id} <- {self.parent_id}"


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@dataclass
class OtlpReceiver:
    """Collects the spans POSTed to `url`/v1/traces."""

    server: ThreadingHTTPServer
    spans: list[ReceivedSpan] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def collect(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name")),
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex() or None,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        with self.lock:
            self.spans.extend(received)

    def snapshot(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver: OtlpReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            receiver.collect(ExportTraceServiceRequest.FromString(body))
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    # Port 0: the kernel picks a free one, with no window for another process to take it.
    receiver = OtlpReceiver(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
    thread.join(5)


def place(system: RunningSystem, total: int, headers: dict[str, str] | None = None) -> str:
    response = httpx.post(
        f"{system.order_url}/orders",
        json={"userId": "trace-user", "total": total},
        headers=headers or {},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    order_id: str = response.json()["id"]
    return order_id


def wait_settled(system: RunningSystem, order_id: str) -> None:
    def settled() -> bool:
        order = httpx.get(f"{system.order_url}/orders/{order_id}", timeout=10).json()
        return bool(order["status"] != "pending")

    wait_for_sync(settled, timeout_s=30, what=f"order {order_id} settled")


def chain_of(spans: list[ReceivedSpan], order_id: str) -> list[ReceivedSpan] | None:
    """The spans from the order's status update up to its `POST /orders`, or None while some
    have not arrived. Raises AssertionError when one arrived with the wrong name or parent."""
    by_id = {s.span_id: s for s in spans}
    leaves = [
        s
        for s in spans
        if s.name == "order status update" and s.attributes.get("orderflow.order.id") == order_id
    ]
    if not leaves:
        return None
    chain = [leaves[0]]
    for _ in CHAIN[1:]:
        parent = by_id.get(chain[-1].parent_id or "")
        if parent is None:
            if chain[-1].parent_id is None:
                raise AssertionError(f"the chain ends early at {chain[-1].describe()}")
            return None  # not exported yet
        chain.append(parent)
    return chain


def describe(spans: list[ReceivedSpan]) -> str:
    return "\n".join(s.describe() for s in spans)


def test_the_spans_of_one_order_from_both_services_share_one_trace_through_sqs(
    start_orderflow: StartSystem, otlp: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The developer's own OpenTelemetry settings (a service name, a sampler) must not leak in.
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    system = start_orderflow(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    )
    client_parent = {"traceparent": f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"}
    traced_order = place(system, 42, client_parent)
    others = [place(system, 43), place(system, 20_000)]  # the last one is declined
    for order_id in (traced_order, *others):
        wait_settled(system, order_id)

    chains: dict[str, list[ReceivedSpan]] = {}

    def every_chain_arrived() -> bool:
        spans = otlp.snapshot()
        for order_id in (traced_order, *others):
            chain = chain_of(spans, order_id)
            if chain is None:
                return False
            chains[order_id] = chain
        return True

    try:
        wait_for_sync(every_chain_arrived, timeout_s=30, what="the spans of every order")
    except ConditionTimeout as exc:
        raise AssertionError(f"{exc}\nspans received:\n{describe(otlp.snapshot())}") from None

    spans = otlp.snapshot()
    for order_id, chain in chains.items():
        shown = describe(chain)
        assert [(s.service, s.name, s.kind) for s in chain] == list(CHAIN), shown
        assert len({s.trace_id for s in chain}) == 1, shown
        trace_id = chain[0].trace_id
        consumer = chain[3]
        # The provider call happens inside the payment-service's consumer span.
        charges = [
            s
            for s in spans
            if s.name == "payment provider charge"
            and s.parent_id == consumer.span_id
            and s.service == PAYMENT
        ]
        assert [(c.kind, c.trace_id) for c in charges] == [(CLIENT, trace_id)], shown
        assert charges[0].attributes["orderflow.order.id"] == order_id
        publish, process = chain[4], chain[3]
        for span, operation in ((publish, "send"), (process, "process")):
            assert span.attributes["messaging.system"] == "aws_sqs"
            assert span.attributes["messaging.destination.name"] == "orders"
            assert span.attributes["messaging.operation.type"] == operation
            assert span.attributes["messaging.message.id"]

    # A client's traceparent is continued; without one each order starts a trace of its own.
    request = chains[traced_order][-1]
    assert (request.trace_id, request.parent_id) == (CLIENT_TRACE_ID, CLIENT_SPAN_ID)
    assert all(chains[o][-1].parent_id is None for o in others)
    assert len({chains[o][0].trace_id for o in chains}) == len(chains)
    # Health probes are not traced.
    assert not [s for s in spans if s.name.startswith("GET /health")]

    system.assert_stopped_cleanly(system.stop(signal.SIGINT))
