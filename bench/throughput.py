"""No-op handler throughput: the real worker against a raw SQLite claim/complete loop.

Each point starts from a fresh SQLite file holding ``events`` events (spread round-robin over
``calls`` calls) with one delivery per handler, written straight into the store. The clock
starts when the worker starts and stops when the last delivery's ``done`` is committed
(counted where the worker counts it: the ``receiver_deliveries_total`` metric). The handlers
are no-ops that note the order in which each call's events reached them, so the run also
checks per-call order.

The baseline is what the issue measured before the project existed: one connection, no
worker, no handler, claiming ``batch`` pending deliveries in one commit and completing them
in the next, on the same schema and rows.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import resource
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.preload import fresh_db, preload
from receiver.delivery.registry import Registry
from receiver.delivery.router import Router
from receiver.delivery.worker import Worker
from receiver.logs import configure
from receiver.loop import running
from receiver.metrics import Metrics
from receiver.settings import Settings, load_settings
from receiver.store import create_store


@dataclass
class Point:
    name: str
    handlers: int
    ordered: bool | None  # None: the raw baseline
    deliveries: int
    seconds: float
    cpu_seconds: float  # user + system, every thread of the process
    order_violations: int = 0
    not_done: int = 0

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.deliveries * 1e6


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Counting(Metrics):
    """The real metrics, also telling the benchmark when ``target`` deliveries are done."""

    def __init__(self, target: int) -> None:
        super().__init__()
        self.target, self.count = target, 0
        self.all_done = asyncio.Event()

    def delivery(self, handler: str, outcome: str, seconds: float | None = None) -> None:
        super().delivery(handler, outcome, seconds)
        self.count += 1
        if self.count >= self.target:
            self.all_done.set()


def _router(n_handlers: int, ordered: bool, seen: dict[tuple[str, str], list[str]]) -> Router:
    router = Router("bench")
    for i in range(n_handlers):

        async def noop(event: Any, ctx: Any) -> None:
            seen[(ctx.handler, ctx.call_id)].append(ctx.event_id)

        router.on("*", name=f"noop{i}", ordered=ordered)(noop)
    return router


def _settings(db: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{db}",
        "log_format": "json",
        **overrides,
    }
    return load_settings(**values)


def _violations(seen: dict[tuple[str, str], list[str]]) -> int:
    return sum(1 for ids in seen.values() for a, b in itertools.pairwise(ids) if b < a)


async def worker_point(
    work: Path,
    events: int,
    calls: int,
    n_handlers: int,
    ordered: bool,
    timeout: float,
    **overrides: Any,
) -> Point:
    db = fresh_db(work / "dispatch-throughput.db")
    settings = _settings(db, **overrides)
    configure(settings, stream=open(os.devnull, "w"))  # noqa: SIM115 - production's log lines
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    registry = Registry([_router(n_handlers, ordered, seen)])
    total = events * n_handlers
    store = create_store(settings)
    await store.open()
    try:
        await preload(store, events, calls, tuple(registry.handlers))
        metrics = _Counting(total)
        metrics.register_handlers(registry.handlers)
        worker = Worker(store, registry, settings, metrics=metrics)
        started, cpu = time.perf_counter(), _cpu()
        async with running(worker, store):
            await asyncio.wait_for(metrics.all_done.wait(), timeout)
            seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    finally:
        await store.close()
    label = f"worker x{n_handlers} {'ordered' if ordered else 'unordered'}"
    point = Point(label, n_handlers, ordered, total, seconds, cpu, _violations(seen))
    point.not_done = _count(db, "SELECT count(*) FROM deliveries WHERE status != 'done'")
    return point


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


async def baseline_point(work: Path, events: int, calls: int, batch: int) -> Point:
    """Raw SQLite, the store's own connection set-up: claim ``batch`` in one commit, complete
    them in the next."""
    db = fresh_db(work / "dispatch-baseline.db")
    settings = _settings(db)
    store = create_store(settings)
    await store.open()
    try:
        await preload(store, events, calls, ("bench.noop0",))
    finally:
        await store.close()
    conn = store._connect()  # type: ignore[attr-defined]  # the store's own connection set-up
    try:
        cpu = _cpu()
        seconds = _raw_loop(conn, batch)
        cpu = _cpu() - cpu
    finally:
        conn.close()
    point = Point(f"raw SQLite, batches of {batch}", 1, None, events, seconds, cpu)
    point.not_done = _count(db, "SELECT count(*) FROM deliveries WHERE status != 'done'")
    return point


def _raw_loop(conn: sqlite3.Connection, batch: int) -> float:
    started = time.perf_counter()
    while True:
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(
            "SELECT id, attempts FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?"
            " LIMIT ?",
            (now, batch),
        ).fetchall()
        conn.executemany(
            "UPDATE deliveries SET status = 'running', attempts = attempts + 1, lease_until = ?,"
            " updated_at = ? WHERE id = ?",
            [(now + 60, now, r[0]) for r in rows],
        )
        conn.execute("COMMIT")
        if not rows:
            return time.perf_counter() - started
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "UPDATE deliveries SET status = 'done', lease_until = NULL, updated_at = ?"
            " WHERE id = ? AND attempts = ? AND status = 'running'",
            [(time.time(), r[0], r[1] + 1) for r in rows],
        )
        conn.execute("COMMIT")
