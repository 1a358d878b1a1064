"""Each part of the reliability suite: start what it needs, run it, and say what it found as
rows of the one table (measure, value, and whether what must hold held)."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench.reliability import attacks, catalogue, disk, follow_ups, fuzz, kills
from bench.reliability.proc import TOKEN, Receiver, base_env
from receiver.settings import load_settings
from receiver.store import create_store
from receiver.store.base import Store
from receiver.vocode.fake import FakeVocode


@dataclass(frozen=True)
class Row:
    part: str
    measure: str
    value: str
    holds: bool | None = None  # None: a figure, not a check


@dataclass(frozen=True)
class Sizes:
    fuzz: int
    kills: int
    kill_interval: float
    follow_up_events: int
    follow_up_kills: int
    disk_writes: int
    attack_seconds: float
    slow_connections: int


FULL = Sizes(5000, 10, 1.5, 120, 5, 1000, 5.0, 300)
SHORT = Sizes(500, 5, 1.0, 32, 3, 100, 2.0, 100)


class Opened:
    """The store at ``url``, opened for one read."""

    def __init__(self, url: str) -> None:
        self.store: Store = create_store(load_settings(database_url=url, tokens=TOKEN))

    async def __aenter__(self) -> Store:
        await self.store.open()
        return self.store

    async def __aexit__(self, *exc: object) -> None:
        await self.store.close()


def _events_reader(url: str) -> Any:
    async def read() -> list[dict[str, Any]]:
        async with Opened(url) as store:
            found = await store.list_events(limit=1_000_000)
        return [{"headers": e.headers, "envelope": e.envelope} for e in found]

    return read


async def catalogue_on(work: Path, name: str, url: str) -> list[Row]:
    env = base_env(RECEIVER_DATABASE_URL=url, RECEIVER_REQUEST_TIMEOUT_SECONDS="1")
    receiver = await asyncio.to_thread(Receiver(work, f"catalogue-{name}", env).start)
    try:
        result = await catalogue.run_catalogue(receiver.port, _events_reader(url))
    finally:
        receiver.stop()
    rows = [
        Row("bad input", f"classes answered as expected ({name})",
            f"{result.as_expected} / {result.classes}", result.as_expected == result.classes),
        Row("bad input", f"5xx answers ({name})", str(result.server_errors),
            result.server_errors == 0),
        Row("bad input", f"stored wrongly or with a secret ({name})", str(result.stored_wrongly),
            result.stored_wrongly == 0),
    ]  # fmt: skip
    rows += [Row("bad input", "miss", miss, False) for miss in result.misses]
    return rows


async def strict_envelopes(url: str) -> tuple[int, int]:
    """(stored envelopes, those that are not strict JSON), read as the database holds them."""

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        texts = [row[0] for row in conn.execute("SELECT envelope FROM events")]
        conn.close()
    else:
        pg = await asyncpg.connect(url)
        texts = [row[0] for row in await pg.fetch("SELECT envelope::text FROM events")]
        await pg.close()
    bad = 0
    for text in texts:
        try:
            json.loads(text, parse_constant=refuse)
        except ValueError:
            bad += 1
    return len(texts), bad


async def fuzz_on(work: Path, url: str, examples: int) -> list[Row]:
    receiver = Receiver(work, "fuzz", base_env(RECEIVER_DATABASE_URL=url))
    await asyncio.to_thread(receiver.start)
    try:
        result = await asyncio.to_thread(fuzz.run_fuzz, receiver.port, examples)
    finally:
        receiver.stop()
    stored, bad = await strict_envelopes(url)
    mix = ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items()))
    return [
        Row("fuzz", "requests over HTTP (hypothesis)", f"{result.sent:,} ({mix})"),
        Row("fuzz", "5xx or no answer", str(result.server_errors), result.server_errors == 0),
        Row("fuzz", "stored envelopes not strict JSON", f"{bad} of {stored:,}", bad == 0),
    ] + [Row("fuzz", "failing request", repr(x), False) for x in result.examples]


async def kills_on(work: Path, url: str, sizes: Sizes) -> list[Row]:
    receiver = Receiver(work, "kills", base_env(RECEIVER_DATABASE_URL=url))
    await asyncio.to_thread(receiver.start)
    try:
        acknowledged, done = await kills.load_while_killing(
            receiver, kills=sizes.kills, interval=sizes.kill_interval
        )
    finally:
        receiver.stop()
    async with Opened(url) as store:
        stored = [(e.call_id, e.id) for e in await store.list_events(limit=10_000_000)]
    result = kills.tally(acknowledged, stored, done)
    return [
        Row("SIGKILL under load", "kills", str(result.kills), result.kills >= 5),
        Row("SIGKILL under load", "acknowledged / stored / lost",
            f"{result.acknowledged:,} / {result.stored:,} / {result.lost}", result.lost == 0),
        Row("SIGKILL under load", "events stored twice", str(result.stored_twice),
            result.stored_twice == 0),
    ]  # fmt: skip


async def follow_ups_on(work: Path, url: str, sizes: Sizes) -> list[Row]:
    with FakeVocode(api_key=follow_ups.API_KEY) as fake:
        env = base_env(RECEIVER_DATABASE_URL=url, RECEIVER_VOCODE_BASE_URL=fake.url,
                       **follow_ups.SETTINGS)  # fmt: skip
        receiver = Receiver(work, "follow-ups", env)
        await asyncio.to_thread(receiver.start)

        async def intents() -> list[Any]:
            async with Opened(url) as store:
                return await store.list_follow_ups(limit=1_000_000)

        try:
            result = await follow_ups.run_matrix(
                receiver, fake, intents, events=sizes.follow_up_events,
                kills=sizes.follow_up_kills,
            )  # fmt: skip
        finally:
            receiver.stop()
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items()))
    name = "follow-up faults + kills"
    return [
        Row(name, "calls that did not connect / kills", f"{result.events} / {result.kills}"),
        Row(name, "intents / creates at the API", f"{result.intents} / {result.creates}",
            result.intents == result.events),
        Row(name, "numbers dialled twice", str(result.dialled_twice), result.dialled_twice == 0),
        Row(name, "intents' ends", outcomes),
        Row(name, "intents unfinished", str(result.unfinished), result.unfinished == 0),
    ]  # fmt: skip


async def disk_on(work: Path, sizes: Sizes) -> list[Row]:
    result = await disk.run_disk(work, sizes.disk_writes)
    if isinstance(result, str):
        return [Row("disk full", "not measured", result)]
    return [
        Row("disk full", "disk", result.how),
        Row("disk full", "writes while full: 503 / 2xx / other",
            f"{result.refused_503} / {result.acknowledged_while_full} / {result.other}",
            result.other == 0 and result.refused_503 > 0),
        Row("disk full", "/readyz while full, after", f"{result.ready_while_full}, "
            f"{result.ready_after}", (result.ready_while_full, result.ready_after) == (503, 200)),
        Row("disk full", "accepted after space was freed", f"{result.accepted_after} / 20",
            result.accepted_after == 20),
        Row("disk full", "acknowledged but lost", str(result.lost), result.lost == 0),
    ]  # fmt: skip


async def attacks_on(work: Path, sizes: Sizes) -> list[Row]:
    db = work / f"attacks-{secrets.token_hex(3)}.db"
    env = base_env(RECEIVER_DATABASE_URL=f"sqlite:///{db}", RECEIVER_REQUEST_TIMEOUT_SECONDS="3",
                   RECEIVER_MAX_CONNECTIONS=str(attacks.MAX_CONNECTIONS))  # fmt: skip
    receiver = Receiver(work, "attacks", env)
    await asyncio.to_thread(receiver.start)
    try:
        phases = await attacks.run_attacks(receiver, sizes.attack_seconds, sizes.slow_connections)
    finally:
        receiver.stop()
    quiet = phases[0]
    rows = []
    for phase in phases:
        what = ", ".join(f"{k} {v}" for k, v in sorted(phase.attack.items())) or "none"
        rows += [
            Row("attacks", f"{phase.name}: attack answers", what),
            Row("attacks", f"{phase.name}: legit p50 / p99 ms, failures",
                f"{phase.p50_ms:.1f} / {phase.p99_ms:.1f}, {phase.failures} of {phase.requests:,}",
                phase.failures == 0 and phase.p99_ms < 1000),
            Row("attacks", f"{phase.name}: peak RSS MiB", f"{phase.rss_peak_mib:.0f}",
                phase.rss_peak_mib < quiet.rss_peak_mib + 100),
        ]  # fmt: skip
    return rows


async def pg_database(server: str) -> tuple[str, str]:
    """A new database on ``server``: (its URL, its name)."""
    name = f"receiver_reliability_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(server)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    head, _, _ = server.rpartition("/")
    return f"{head}/{name}", name


async def drop_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(server)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()
