"""W3C trace context: continue the caller's trace, or start one, so every event carries one."""

from __future__ import annotations

import os
import re

from orderflow_messaging import current_traceparent

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def child_traceparent(incoming: str | None) -> str:
    """A traceparent for work done for `incoming` (a new trace when it is absent or bad)."""
    span_id = os.urandom(8).hex()
    match = _TRACEPARENT.match(incoming or "")
    if match and match.group(1) != "0" * 32 and match.group(2) != "0" * 16:
        return f"00-{match.group(1)}-{span_id}-{match.group(3)}"
    return f"00-{os.urandom(16).hex()}-{span_id}-01"


def event_traceparent(incoming: str | None) -> str:
    """The traceparent an order's event carries: the current span's (the request's server span)
    while tracing is on, so the relay's publish is that span's child; else a child of `incoming`,
    or a new trace."""
    return current_traceparent() or child_traceparent(incoming)


def trace_id_of(traceparent: str) -> str:
    """The trace id in a well-formed traceparent."""
    return traceparent.split("-")[1]
