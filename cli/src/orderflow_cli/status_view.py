"""How `orderflow status` looks in a terminal (rich): services, queues, outboxes, orders."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from orderflow_cli.status import OrdersState, Snapshot

_UNKNOWN = "-"


def duration(seconds: float | None) -> str:
    """A short human duration: 850 ms, 4.2 s, 3m 20s, 2h 5m."""
    if seconds is None:
        return _UNKNOWN
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD)


def _services(snapshot: Snapshot) -> Table:
    table = _table("Services")
    table.add_column("service", no_wrap=True)
    table.add_column("state")
    table.add_column("url", no_wrap=True)
    for service in snapshot.services:
        state = (
            Text("up", style="green")
            if service.up
            else Text(f"down: {service.error or 'no answer'}", style="bold red")
        )
        table.add_row(service.name, state, service.url)
    return table


def _queues(snapshot: Snapshot) -> Table:
    table = _table("Queues")
    table.add_column("queue", no_wrap=True)
    for name in ("visible", "in flight", "delayed", "DLQ"):
        table.add_column(name, justify="right")
    table.add_column("consumed by", no_wrap=True)
    for queue in snapshot.queues:
        dead = queue.dlq_visible
        table.add_row(
            queue.queue,
            str(queue.visible),
            str(queue.in_flight),
            str(queue.delayed),
            Text(_UNKNOWN if dead is None else str(dead), style="bold red" if dead else ""),
            queue.consumer,
        )
    notes = ["DLQ: messages in the queue's dead-letter queue"]
    notes += [f"{s.name} is down: its queues are unknown" for s in snapshot.services if not s.up]
    table.caption = "\n".join(notes)
    table.caption_justify = "left"
    return table


def _outbox(snapshot: Snapshot) -> Table:
    table = _table("Outbox")
    table.add_column("service", no_wrap=True)
    table.add_column("unpublished", justify="right")
    table.add_column("oldest", justify="right")
    for outbox in snapshot.outbox:
        table.add_row(
            outbox.service,
            Text(str(outbox.backlog), style="yellow" if outbox.backlog else ""),
            duration(outbox.oldest_age_seconds) if outbox.backlog else _UNKNOWN,
        )
    return table


def _orders(orders: OrdersState) -> Text:
    text = Text()
    text.append("Orders  ", style="bold")
    parts = [f"created {_UNKNOWN if orders.created is None else orders.created}"]
    parts += [f"{status} {count}" for status, count in sorted(orders.settled.items())]
    if orders.per_second is not None:  # a rate needs two snapshots: not in --once
        parts.append(f"{orders.per_second:.1f}/s")
    text.append(" · ".join(parts))
    text.append("\nSettlement latency  ", style="bold")
    latencies = orders.settlement_seconds.items()
    text.append(" · ".join(f"{name} {duration(value)}" for name, value in latencies) or _UNKNOWN)
    text.append("\n(created → settled, every order since order-service started)", style="dim")
    return text


def render(snapshot: Snapshot, *, interval_s: float | None = None) -> RenderableType:
    """One screen; `interval_s` is said in the title of a live view."""
    when = snapshot.taken_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    title = f"orderflow status · {when}"
    if interval_s is not None:
        title += f" · every {interval_s:g} s (Ctrl-C quits)"
    return Panel(
        Group(_services(snapshot), _queues(snapshot), _outbox(snapshot), _orders(snapshot.orders)),
        title=title,
        title_align="left",
        expand=False,
    )
