"""Console benchmark: what the console's reads cost at 10,000 and at 1,000,000 events (SQLite).

Each size gets a fresh database, filled straight with SQL (calls of 8 events, one delivery per
event, one dead in a thousand, one quarantined event in ten thousand, a follow-up intent per
hundred events), then every read the console's pages make is timed through the store, the
median of several runs. The baseline in the same run is the same page read with OFFSET at the
same depth, which is what keyset pages avoid; and each read at 1,000,000 is compared with the
same read at 10,000 (a ratio near 1: the page does not slow as the table grows).

    python -m bench console                       # → .bench/console.json
    python -m bench console --sizes 10000,200000 --runs 5
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from receiver.console.queries import call_timeline
from receiver.store.records import DeliveryFilter
from receiver.store.sqlite.store import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
TYPES = (
    "event_phone_call_connected", "event_message", "event_message", "event_message",
    "event_phone_call_ended", "event_transcript", "event_recording", "event_human_detection",
)  # fmt: skip
T0 = 1_780_000_000.0
STEP = 0.01  # seconds between two events


def fill(path: Path, n: int) -> None:
    """``n`` events with their deliveries and some intents, written with plain SQL."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    body = json.dumps({"type": "event_message", "call_id": "x", "payload": {"text": "hello"}})
    for start in range(1, n + 1, 50_000):
        seqs = range(start, min(n, start + 49_999) + 1)
        conn.executemany(
            "INSERT INTO events (seq, id, dedup_key, type, call_id, received_at, method, headers,"
            " envelope, raw, quarantine) VALUES (?, ?, ?, ?, ?, ?, 'POST', '{}', ?, ?, ?)",
            ((s, f"evt_{s:012d}", f"k{s}", TYPES[s % 8], f"call-{s // 8}", T0 + s * STEP, body,
              body.encode(), '{"errors": []}' if s % 10_000 == 0 else None) for s in seqs),
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO deliveries (event_seq, event_id, handler, call_id, status, attempts,"
            " next_attempt_at, created_at, updated_at) VALUES (?, ?, 'crm.save', ?, ?, 1, ?, ?, ?)",
            ((s, f"evt_{s:012d}", f"call-{s // 8}", "dead" if s % 1000 == 0 else "done",
              T0 + s * STEP, T0 + s * STEP, T0 + s * STEP) for s in seqs),
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO follow_ups (key, event_id, handler, call_id, to_number, from_number,"
            " request, not_before, status, next_attempt_at, created_at, updated_at)"
            " VALUES (?, ?, 'crm.save', ?, '+15555550123', '+15555550199', '{}', ?, ?, ?, ?, ?)",
            ((f"evt_{s:012d}/crm.save/1", f"evt_{s:012d}", f"call-{s // 8}", T0,
              "refused" if s % 700 == 0 else "created", T0, T0 + s * STEP, T0 + s * STEP)
             for s in seqs if s % 100 == 0),
        )  # fmt: skip
        conn.commit()
    conn.close()  # no ANALYZE: the SQLite store never runs one, so its plans are these


def reads(store: SQLiteStore, n: int) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Every read of the console's pages, at the middle of a table of ``n`` events."""
    middle = n // 2
    call = f"call-{middle // 8}"

    async def offset_page() -> Any:  # the baseline: the same page as "events, middle" by OFFSET
        def run() -> Any:
            with sqlite3.connect(store.path) as conn:
                return conn.execute(
                    "SELECT id FROM events ORDER BY seq DESC LIMIT 50 OFFSET ?", (n - middle,)
                ).fetchall()

        return await asyncio.to_thread(run)

    return {
        "events, newest page": lambda: store.list_events(limit=50),
        "events, page at the middle": lambda: store.list_events(limit=50, before_seq=middle),
        "events, page at the middle by OFFSET (baseline)": offset_page,
        "events of a type, at the middle": lambda: store.list_events(
            type="event_recording", limit=50, before_seq=middle),
        "events of a call": lambda: store.list_events(call_id=call, limit=50),
        "events in a 10-minute range at the middle": lambda: store.list_events(
            since=T0 + middle * STEP, until=T0 + middle * STEP + 600, limit=50),
        "events in quarantine": lambda: store.list_events(quarantined=True, limit=50),
        "a call's timeline": lambda: call_timeline(store, call),
        "live tail, newest 50 after 1,000 new": lambda: store.events_after(
            n - 1000, limit=50, newest=True),
        "dead deliveries, page": lambda: store.list_deliveries(
            DeliveryFilter(status="dead", limit=50)),
        "deliveries, page at the middle": lambda: store.list_deliveries(
            DeliveryFilter(limit=50, before=middle)),
        "follow-ups refused, page": lambda: store.list_follow_ups(status="refused", limit=50),
        "overview (backlog stats, intents per status)": lambda: asyncio.gather(
            store.delivery_stats(), store.follow_up_stats(), store.follow_up_counts()),
    }  # fmt: skip


async def measure(path: Path, n: int, runs: int) -> dict[str, float]:
    store = SQLiteStore(str(path))
    await store.open(migrate=False, read_only=True)
    out = {}
    try:
        for name, read in reads(store, n).items():
            await read()  # warm the cache: pages are read from memory after the first
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                await read()
                times.append((time.perf_counter() - started) * 1000)
            out[name] = statistics.median(times)
    finally:
        await store.close()
    return out


async def tail_cycle(path: Path, n: int, runs: int) -> float:
    """CPU milliseconds of one live-tail cycle at its fullest: the newest 50 events after
    1,000 new ones, the count of those left out, and the 50 SSE messages rendered (with the
    PII rule). A tail runs at most two cycles a second, whatever the rate of events."""
    from receiver.console.tail import MIN_INTERVAL
    from receiver.console.views import Presenter
    from receiver.settings import load_settings

    view = Presenter(load_settings(console_tokens="bench-console-token-0123456789"))
    store = SQLiteStore(str(path))
    await store.open(migrate=False, read_only=True)
    try:
        cycles = []
        for _ in range(runs + 1):
            started = time.process_time()  # every thread's CPU: the read runs in one
            page = await store.events_after(n - 1000, limit=50, newest=True)
            for event in page.events:
                json.dumps(view.summary(event), ensure_ascii=False)
            cycles.append((time.process_time() - started) * 1000)
    finally:
        await store.close()
    cost = statistics.median(cycles[1:])
    click.echo(
        f"live tail at {n:,} events: {cost:.2f} ms of CPU per cycle; at most "
        f"{1 / MIN_INTERVAL:g} cycles a second: {cost / MIN_INTERVAL / 10:.2f} % of one core"
    )
    return cost


async def prepare(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = SQLiteStore(str(path))
    await store.open()  # the schema, every version
    await store.close()


@click.command()
@click.option("--sizes", default="10000,1000000", show_default=True, help="Events, comma-sep.")
@click.option("--runs", default=9, show_default=True, help="Timed runs per read (median).")
@click.option("--out", default=str(ROOT / ".bench" / "console.json"), show_default=True)
def main(sizes: str, runs: int, out: str) -> None:
    """The console's reads at growing table sizes, against OFFSET pages."""
    counts = [int(s) for s in sizes.split(",")]
    work = Path(out).parent
    work.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, float]] = {}
    for n in counts:
        path = work / f"console-{n}.db"
        asyncio.run(prepare(path))
        started = time.monotonic()
        fill(path, n)
        click.echo(f"{n:,} events written in {time.monotonic() - started:.0f} s")
        results[n] = asyncio.run(measure(path, n, runs))
        results[n]["live tail cycle, CPU ms"] = asyncio.run(tail_cycle(path, n, runs))
    table = Table(title=f"median ms of {runs} runs (SQLite)", title_justify="left")
    table.add_column("read")
    for n in counts:
        table.add_column(f"{n:,} events", justify="right")
    if len(counts) > 1:
        table.add_column(f"{counts[-1]:,} / {counts[0]:,}", justify="right")
    for name in results[counts[0]]:
        cells = [f"{results[n][name]:.2f}" for n in counts]
        if len(counts) > 1:
            cells.append(f"{results[counts[-1]][name] / results[counts[0]][name]:.1f}x")
        table.add_row(name, *cells)
    Console(width=140).print(table)
    Path(out).write_text(json.dumps({"runs": runs, "results": results}, indent=2) + "\n")
    click.echo(f"wrote {out}")
