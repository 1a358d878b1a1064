"""What tracking calls costs intake: the store's write of new events with and without it.

Since schema version 7 the write that stores an event also makes its call known, or moves it
on (``receiver/store/calls.py``). This measures that write alone, in this process, against
the same write without the call (the event and its delivery only, as before version 7), in
rounds that interleave the two:

- SQLite (``synchronous=FULL``): events of 200 calls, 32 submitted per turn of the event
  loop (one group commit each); CPU of this process per event, and events per second.
- PostgreSQL (``--database-url``): batches of 100 events over 20 calls, each one intake
  statement on one connection; wall time per event (the server's work included).

    python -m bench calls [--events 20000] [--rounds 6] [--database-url postgresql://...]
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from receiver.store.postgres import intake as pg_intake
from receiver.store.records import NewEvent, Stored
from receiver.store.sqlite import writes
from receiver.store.sqlite.store import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent


def _events(n: int, calls: int, tag: str) -> list[NewEvent]:
    out = []
    for i in range(n):
        call_id = f"call-{tag}-{i % calls}"
        env = json.dumps({"type": "event_message", "call_id": call_id, "payload": {"n": i}})
        event = NewEvent(
            f"evt_{tag}_{i}", f"s:{tag}:{i}", "event_message", call_id, time.time(), "POST",
            "{}", env, env.encode(), handlers=("log.events",),
        )  # fmt: skip
        out.append(event)
    return out


def _untracked(conn: sqlite3.Connection, event: NewEvent) -> Stored:
    """The SQLite write before version 7: the event and its deliveries, no call."""
    cursor = conn.execute(
        writes._INSERT_EVENT,
        (event.id, event.dedup_key, event.type, event.call_id, event.received_at,
         event.method, event.headers, event.envelope, event.raw, None, None),
    )  # fmt: skip
    now = event.received_at
    conn.executemany(
        writes._INSERT_DELIVERY,
        [(cursor.lastrowid, event.id, h, event.call_id, now, now, now) for h in event.handlers],
    )
    return Stored(event.id, False)


async def _sqlite_round(write: Callable[..., Stored], n: int) -> tuple[float, float]:
    """(CPU µs per event, events per second) of storing ``n`` events with ``write``."""
    tracked = writes.add_event
    writes.add_event = write
    try:
        with tempfile.TemporaryDirectory() as folder:
            store = SQLiteStore(str(Path(folder) / "r.db"))
            await store.open()
            events = _events(n, 200, secrets.token_hex(4))
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(0, n, 32):
                await asyncio.gather(*(store.add_event(e) for e in events[i : i + 32]))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            await store.close()
    finally:
        writes.add_event = tracked
    return cpu / n * 1e6, n / wall


def _untracked_sql() -> str:
    """The PostgreSQL intake statement without its calls (as before version 7)."""
    sql = pg_intake._INSERT
    cut = sql[: sql.index("), batch_calls AS (")] + sql[sql.index("), delivered AS (") :]
    return cut.replace("UNION ALL SELECT NULL, NULL, call_id FROM tracked WHERE made\n", "")


async def _pg_rounds(url: str, rounds: int) -> dict[str, list[float]]:
    import asyncpg

    from receiver.store.postgres.store import PostgresStore

    schema = f"bench_calls_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    scoped = f"{url}{'&' if '?' in url else '?'}search_path={schema}"
    store = PostgresStore(scoped, listen=False)
    await store.open()
    await store.close()
    conn = await asyncpg.connect(scoped)
    tracked_sql, results = pg_intake._INSERT, {"untracked": [], "tracked": []}
    try:
        for _ in range(rounds):
            for name, sql in (("untracked", _untracked_sql()), ("tracked", tracked_sql)):
                pg_intake._INSERT = sql
                started = time.perf_counter()
                for _ in range(30):
                    await pg_intake.insert_events(conn, _events(100, 20, secrets.token_hex(4)))
                results[name].append((time.perf_counter() - started) / 3000 * 1e6)
    finally:
        pg_intake._INSERT = tracked_sql
        await conn.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()
    return results


@click.command()
@click.option("--events", default=20_000, show_default=True, help="Events per SQLite round.")
@click.option("--rounds", default=6, show_default=True)
@click.option("--database-url", default=None, help="A PostgreSQL server to measure on too.")
def main(events: int, rounds: int, database_url: str | None) -> None:
    """Intake's write with and without tracking the call, interleaved."""
    sqlite: dict[str, list[tuple[float, float]]] = {"untracked": [], "tracked": []}
    for _ in range(rounds):
        sqlite["untracked"].append(asyncio.run(_sqlite_round(_untracked, events)))
        sqlite["tracked"].append(asyncio.run(_sqlite_round(writes.add_event, events)))
    report: dict[str, Any] = {}
    for name, points in sqlite.items():
        cpu = statistics.median(p[0] for p in points)
        rate = statistics.median(p[1] for p in points)
        report[f"sqlite {name}"] = {"cpu_us_per_event": round(cpu, 1), "events_per_s": round(rate)}
    if database_url:
        for name, values in asyncio.run(_pg_rounds(database_url, rounds)).items():
            wall = round(statistics.median(values), 1)
            report[f"postgresql {name}"] = {"wall_us_per_event": wall}
    for name, figures in report.items():
        click.echo(f"{name:24} " + "  ".join(f"{k} {v}" for k, v in figures.items()))
    out = ROOT / ".bench" / "calls.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    click.echo(f"wrote {out}")
