"""The run's JSON, its markdown table, its chart, and the targets of the speed issue."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROWS: tuple[tuple[str, str, str], ...] = (
    ("api", "rps", "api: POST /orders per s (concurrency 32)"),
    ("api", "p50_ms", "api: p50 ms"),
    ("api", "p90_ms", "api: p90 ms"),
    ("api", "p99_ms", "api: p99 ms"),
    ("api", "max_ms", "api: max ms"),
    ("e2e_0ms", "orders_per_s", "e2e, 0 ms provider: orders/s"),
    ("e2e_0ms", "p50_ms", "e2e, 0 ms provider: order→payment p50 ms"),
    ("e2e_0ms", "p99_ms", "e2e, 0 ms provider: order→payment p99 ms"),
    ("e2e_0ms_half_rate", "offered_per_s", "e2e at half that rate: offered orders/s"),
    ("e2e_0ms_half_rate", "p99_ms", "e2e at half that rate: p99 ms"),
    ("e2e_100ms", "orders_per_s", "e2e, 100 ms provider: orders/s"),
    ("e2e_100ms", "p99_ms", "e2e, 100 ms provider: p99 ms"),
    ("cost", "cpu_s_per_1000_orders", "CPU s per 1000 orders (both services)"),
    ("cost", "rss_mb_max", "peak RSS MB (largest service)"),
)


def _get(report: Mapping[str, Any], side: str, group: str, key: str) -> float | None:
    value = report.get(side, {}).get(group, {}).get(key)
    return float(value) if isinstance(value, int | float) else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return (
        f"{value:,.0f}"
        if abs(value) >= 100
        else f"{value:,.1f}"
        if abs(value) >= 10
        else (f"{value:.2f}")
    )


def targets(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the figures it compares and whether it holds."""

    def both(group: str, key: str) -> tuple[float | None, float | None]:
        return _get(report, "orderflow", group, key), _get(report, "seed", group, key)

    found: list[dict[str, Any]] = []

    def add(name: str, holds: bool | None, detail: str) -> None:
        found.append({"target": name, "holds": holds, "detail": detail})

    ours, seed = both("e2e_100ms", "orders_per_s")
    add(
        "e2e_100ms.orders_per_s >= 20x the seed's",
        None if ours is None or seed is None else ours >= 20 * seed,
        f"{_fmt(ours)} vs 20 x {_fmt(seed)}",
    )
    ours, seed = both("e2e_0ms", "orders_per_s")
    add(
        "e2e_0ms.orders_per_s >= the seed's",
        None if ours is None or seed is None else ours >= seed,
        f"{_fmt(ours)} vs {_fmt(seed)}",
    )
    cpu = _get(report, "orderflow", "cost", "cpu_s_per_1000_orders")
    add("cost.cpu_s_per_1000_orders <= 2.5", None if cpu is None else cpu <= 2.5, _fmt(cpu))
    rps, seed_rps = both("api", "rps")
    p99, seed_p99 = both("api", "p99_ms")
    holds = None
    if None not in (rps, seed_rps, p99, seed_p99):
        holds = rps >= seed_rps and p99 < seed_p99  # type: ignore[operator]
    add(
        "api.rps >= the seed's, with a lower api.p99_ms",
        holds,
        f"{_fmt(rps)}/s p99 {_fmt(p99)} ms vs {_fmt(seed_rps)}/s p99 {_fmt(seed_p99)} ms",
    )
    half = _get(report, "orderflow", "e2e_0ms_half_rate", "p99_ms")
    add(
        "e2e p99 < 250 ms at half the maximum rate",
        None if half is None else half < 250,
        _fmt(half),
    )
    rss = report.get("orderflow", {}).get("cost", {}).get("rss_mb_by_service", {})
    add(
        "each service < 150 MB RSS",
        all(v < 150 for v in rss.values()) if rss else None,
        ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items()),
    )
    return found


def markdown(report: Mapping[str, Any]) -> str:
    engine = report.get("engine", {})
    lines = [
        f"| {report.get('engine', {}).get('name', '?')} engine, "
        f"{'quick' if report.get('quick') else 'full'} run | orderflow (PostgreSQL) | seed |",
        "|---|---:|---:|",
    ]
    for group, key, label in ROWS:
        lines.append(
            f"| {label} | {_fmt(_get(report, 'orderflow', group, key))} "
            f"| {_fmt(_get(report, 'seed', group, key))} |"
        )
    lines.append(
        f"| engine ceiling, send+receive+delete msgs/s | "
        f"{_fmt(engine.get('ceiling_msgs_per_s'))} (aiobotocore, batches of 10) | |"
    )
    load = report.get("load_before", [])
    machine = report.get("machine", {})
    lines.append("")
    lines.append(
        f"{machine.get('cpus', '?')} CPUs ({machine.get('cpu_model', '?')}), load average "
        f"before the run {', '.join(str(x) for x in load)}; {report.get('timestamp', '')}; "
        f"{report.get('duration_s', '?')} s."
    )
    lines.append("")
    lines.append("| target | holds | figures |")
    lines.append("|---|---|---|")
    for target in report.get("targets", []):
        holds = {True: "yes", False: "**no**", None: "—"}[target["holds"]]
        lines.append(f"| {target['target']} | {holds} | {target['detail']} |")
    return "\n".join(lines) + "\n"


def chart(samples: Mapping[str, Mapping[str, Sequence[float]]], report: Mapping[str, Any],
          path: Path) -> None:  # fmt: skip
    """Latency distributions (api, e2e 0 ms) and throughputs, orderflow beside the seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"orderflow": "#1f77b4", "seed": "#ff7f0e"}
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, phase, title in (
        (axes[0], "api", "POST /orders latency (ms)"),
        (axes[1], "e2e_0ms", "order → payment latency, 0 ms provider (ms)"),
    ):
        for side, colour in colours.items():
            values = sorted(samples.get(side, {}).get(phase, []))
            if not values:
                continue
            fractions = [(i + 1) / len(values) for i in range(len(values))]
            ax.plot(values, fractions, label=side, color=colour)
        ax.set_xscale("log")
        ax.set_title(title)
        ax.set_ylabel("fraction of requests at or below")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    metrics = (
        ("api", "rps", "api req/s"),
        ("e2e_0ms", "orders_per_s", "e2e 0 ms orders/s"),
        ("e2e_100ms", "orders_per_s", "e2e 100 ms orders/s"),
    )
    width = 0.38
    for offset, (side, colour) in zip((-width / 2, width / 2), colours.items(), strict=True):
        values = [_get(report, side, g, k) or 0.0 for g, k, _ in metrics]
        bars = axes[2].bar(
            [i + offset for i in range(len(metrics))], values, width, label=side, color=colour
        )
        axes[2].bar_label(bars, fmt="%.0f", fontsize=8)
    axes[2].set_xticks(range(len(metrics)), [label for _, _, label in metrics])
    axes[2].set_title("throughput (higher is better)")
    axes[2].legend()
    engine = report.get("engine", {})
    figure.suptitle(
        f"orderflow vs seed on {engine.get('name', '?')}, {report.get('timestamp', '')[:16]}, "
        f"load before {report.get('load_before')}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write_reports(
    report: dict[str, Any],
    samples: Mapping[str, Mapping[str, Sequence[float]]],
    stem: Path,
    out: Path | None,
) -> str:
    """Adds the targets, writes STEM.json, STEM.md, STEM.png (and `out`); prints the table."""
    ours = report.get("orderflow", {}).get("cost")
    if ours:
        by_service = dict(ours["rss_mb_max"])
        ours["rss_mb_by_service"] = by_service
        ours["rss_mb_max"] = max(by_service.values()) if by_service else None
        report["cost"] = {
            "cpu_s_per_1000_orders": ours["cpu_s_per_1000_orders"],
            "rss_mb_max": by_service,
        }
    seed_cost = report.get("seed", {}).get("cost")
    if seed_cost:
        by_process = dict(seed_cost["rss_mb_max"])
        seed_cost["rss_mb_by_service"] = by_process
        seed_cost["rss_mb_max"] = max(by_process.values()) if by_process else None
    report["targets"] = targets(report)
    stem.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    stem.with_suffix(".json").write_text(text, encoding="utf-8")
    bench_out = out or (Path(os.environ["BENCH_OUT"]) if os.environ.get("BENCH_OUT") else None)
    if bench_out is not None:
        bench_out.parent.mkdir(parents=True, exist_ok=True)
        bench_out.write_text(text, encoding="utf-8")
    table = markdown(report)
    stem.with_suffix(".md").write_text(table, encoding="utf-8")
    try:
        chart(samples, report, stem.with_suffix(".png"))
        where = f"{stem}.json, .md, .png"
    except ImportError:
        where = f"{stem}.json, .md (no chart: matplotlib is not installed)"
    print(table, flush=True)
    print(f"written: {where}" + (f" and {bench_out}" if bench_out else ""), flush=True)
    return table
