"""The pipeline benchmark's figures: means over rounds, the table, and the ratios that matter."""

from __future__ import annotations

import statistics
from typing import Any

from rich.table import Table

# (numerator, denominator, what the ratio says) over e2e events/s at the same connections
E2E_RATIOS = (
    ("receiver", "arq", "receiver e2e ÷ arq e2e"),
    ("receiver", "celery", "receiver e2e ÷ celery e2e"),
    ("receiver+worker", "receiver", "receiver+worker e2e ÷ receiver (one process) e2e"),
    ("intake+worker", "receiver", "intake+worker e2e ÷ receiver (one process) e2e"),
    ("2serve", "receiver", "2serve e2e ÷ receiver (one process) e2e"),
    ("2intake+worker", "receiver", "2intake+worker e2e ÷ receiver (one process) e2e"),
    ("receiver-pg", "receiver", "receiver-pg e2e ÷ receiver (one process) e2e"),
    ("pg-1", "receiver", "pg-1 e2e ÷ receiver (one process, SQLite) e2e"),
    ("pg-intake+worker", "pg-1", "pg-intake+worker e2e ÷ pg-1 (one process) e2e"),
    ("pg-2serve", "pg-1", "pg-2serve e2e ÷ pg-1 (one process) e2e"),
    ("pg-2intake+worker", "pg-1", "pg-2intake+worker e2e ÷ pg-1 (one process) e2e"),
)


def _mean(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.mean(present) if present else None


def _worst(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per target and connections: means over rounds; p99, backlog and what was left, the worst."""
    out = []
    for target, connections in dict.fromkeys((r["target"], r["connections"]) for r in runs):
        group = [r for r in runs if (r["target"], r["connections"]) == (target, connections)]
        out.append({
            "target": target,
            "connections": connections,
            "rounds": len(group),
            "ack_rps": _mean([r["ack_rps"] for r in group]),
            "p50_ms": _mean([r["p50_ms"] for r in group]),
            "p99_ms": _worst([r["p99_ms"] for r in group]),
            "acked": sum(r["acked"] for r in group),
            "failures": sum(r["failures"] for r in group),
            "e2e_rps": _mean([r["e2e_rps"] for r in group]),
            "backlog_at_end": _worst([r["backlog_at_end"] for r in group]),
            "left": _worst([r["left"] for r in group]),
            "cpu_us": _mean([r["cpu_us"] for r in group]),
            "peak_mb": _worst([r["peak_mb"] for r in group]),
            "durable": group[0]["durable"],
            "busy_cores": _mean([r.get("busy_cores") for r in group]),
            "wrk_cores": _mean([r.get("wrk_cores") for r in group]),
        })  # fmt: skip
    return out


def _fmt(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(title: str, rows: list[dict[str, Any]], first: str) -> Table:
    out = Table(title=title, title_justify="left")
    columns = (
        first, "target", "conns", "ack req/s", "p50 ms", "p99 ms", "e2e ev/s", "backlog@end",
        "left", "CPU µs/ev", "peak MB", "errors", "busy CPUs (wrk)", "durable on power loss",
    )  # fmt: skip
    for name in columns:
        out.add_column(name, justify="left" if name in ("target", columns[-1]) else "right")
    for r in rows:
        out.add_row(
            str(r[first]), r["target"], str(r["connections"]), _fmt(r["ack_rps"], ",.0f"),
            _fmt(r["p50_ms"], ".1f"), _fmt(r["p99_ms"], ".1f"), _fmt(r["e2e_rps"], ",.0f"),
            _fmt(r["backlog_at_end"], ",d"), _fmt(r["left"], ",d"), _fmt(r["cpu_us"], ",.0f"),
            _fmt(r["peak_mb"], ",.0f"), str(r["failures"]),
            f"{_fmt(r.get('busy_cores'), '.2f')} ({_fmt(r.get('wrk_cores'), '.2f')})",
            r["durable"],
        )  # fmt: skip
    return out


def ratios(means: list[dict[str, Any]]) -> dict[str, Any]:
    """The e2e ratios of :data:`E2E_RATIOS` at each number of connections where both ran; and
    each target against the same target at another revision (``name@rev``): e2e and CPU."""
    values: dict[str, dict[int, float]] = {}
    lines = []
    pairs = [(top, bottom, label, "e2e_rps") for top, bottom, label in E2E_RATIOS]
    for name in dict.fromkeys(m["target"] for m in means):
        if "@" in name:
            now = name.split("@", 1)[0]
            pairs.append((now, name, f"{now} e2e ÷ {name} e2e", "e2e_rps"))
            pairs.append((now, name, f"{now} CPU µs/event ÷ {name}", "cpu_us"))
    for top, bottom, label, key in pairs:
        figures = {(m["target"], m["connections"]): m[key] for m in means}
        found = {}
        for (target, connections), value in figures.items():
            base = figures.get((bottom, connections))
            if target == top and value is not None and base:
                found[connections] = value / base
        if found:
            values[label] = found
            parts = ", ".join(f"{r:.2f} at {c} conns" for c, r in found.items())
            lines.append(f"{label}: {parts}")
    return {"values": values, "lines": lines}
