"""Lost terminal events, across real processes and the fake Vocode API over real HTTP.

A ``receiver serve`` (SQLite) with the call-back handler: the fake plays 50 calls and drops
the ended event of 20 of them; with the reconcile delay at a second, exactly the right
numbers are called back, once each; the dropped events delivered late change nothing.
Two ``receiver worker`` processes on PostgreSQL reconcile 120 calls between them, each
looked up once and its event made and delivered once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fixture_pg_handlers import PROOF_TABLE
from test_multiprocess_pg import Fleet

from receiver.intake.dedup import canonical, new_event_id
from receiver.settings import load_settings
from receiver.store import NewEvent, create_store
from receiver.vocode.fake import FakeVocode, Fault
from receiver.vocode.fake.play import PlayRequest, plan_play

pytestmark = pytest.mark.process

TESTS = Path(__file__).parent
TOKEN, API_KEY = "reconcile-token-0123456789abcdef", "reconcile-api-key-0123456789"
AGENT = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"
ENDED = "event_phone_call_ended"


def _wait(condition: Any, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not reached"
        time.sleep(0.1)


def _rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def _serve(db: Path, fake: FakeVocode, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    env.update(
        RECEIVER_DATABASE_URL=f"sqlite:///{db}",
        RECEIVER_TOKENS=TOKEN,
        RECEIVER_HANDLERS="handlers.callback:router",
        RECEIVER_VOCODE_API_KEY=API_KEY,
        RECEIVER_VOCODE_BASE_URL=fake.url,
        RECEIVER_RECONCILE_AFTER_SECONDS="1",
        RECEIVER_POLL_INTERVAL_SECONDS="0.1",
        RECEIVER_FOLLOW_UP_RATE_PER_SECOND="100",
        RECEIVER_LOG_FORMAT="json",
        CALLBACK_AGENT=AGENT,
        CALLBACK_FROM_NUMBER="+15555550199",
        CALLBACK_DELAY_SECONDS="0",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "receiver", "serve", "--port", str(port)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_fifty_calls_twenty_ended_events_lost(tmp_path: Path, free_port: int) -> None:
    """20 human-answered calls, 15 a machine answered, 15 that did not connect; the ended
    events of 10 human and 10 machine-answered calls are lost. Exactly the 30 numbers to
    call back are called back, once each; the lost events, delivered late, are duplicates."""
    db, log = tmp_path / "r.db", tmp_path / "serve.log"
    url = f"http://127.0.0.1:{free_port}"
    hook = f"{url}/webhooks/vocode/{TOKEN}"
    with FakeVocode(api_key=API_KEY) as fake:
        serve = _serve(db, fake, free_port, log)
        try:
            _wait(lambda: _ready(url, serve, log), "receiver serve ready")
            expected, lost = _play_fifty(fake, hook)
            _wait(lambda: len(_callbacks(fake)) >= len(expected), "the call-backs")
            _wait(lambda: _synthesized(db) == len(lost), "the lost events synthesised")
            callbacks = _callbacks(fake)
            assert sorted(b.to_number for b in callbacks) == sorted(expected.values())
            assert {b.context["callback_of"] for b in callbacks} == set(expected)
            assert {call_id for call_id, _ in _rows(db, _MADE)} == {b["call_id"] for b in lost}

            before = _counts(db)
            late = [httpx.post(hook, json=body, timeout=10) for body in lost]
            assert {r.status_code for r in late} == {200}
            assert all(r.json()["duplicate"] for r in late)
            made = dict(_rows(db, _MADE))
            assert {r.json()["id"] for r in late} == {made[b["call_id"]] for b in lost}
            assert _counts(db) == before
            assert len(_callbacks(fake)) == len(expected) and len(fake.created) == 80
            metrics = httpx.get(f"{url}/metrics").text
            synthesized = 'receiver_events_synthesized_total{type="event_phone_call_ended"} 20.0'
            assert synthesized in metrics
        finally:
            serve.send_signal(signal.SIGTERM)
            assert serve.wait(30) == 0, log.read_text()[-3000:]


_MADE = "SELECT call_id, id FROM events WHERE method = 'RECONCILE'"


def _ready(url: str, serve: subprocess.Popen[bytes], log: Path) -> bool:
    assert serve.poll() is None, log.read_text()[-3000:]
    try:
        return httpx.get(f"{url}/readyz").status_code == 200
    except httpx.TransportError:
        return False


def _play_fifty(fake: FakeVocode, hook: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Create and play the 50 calls; answer {call id: number} of those to call back, and the
    bodies of the lost events."""
    expected: dict[str, str] = {}
    lost: list[dict[str, Any]] = []
    auth = {"authorization": f"Bearer {API_KEY}"}
    for i in range(50):
        number = f"+1555555{1000 + i}"
        body = {"from_number": "+15555550199", "to_number": number, "agent": AGENT}
        call_id = httpx.post(f"{fake.url}/v1/calls/create", json=body, headers=auth).json()["id"]
        human, connected = i < 20, i < 35
        drop = [ENDED] if (i < 10 or 20 <= i < 30) else []
        result = fake.play_call(
            hook, call_id=call_id, n_messages=2, human=human, did_not_connect=not connected,
            drop=drop,
        )  # fmt: skip
        assert result.ok, result.deliveries
        lost += result.dropped
        if not human:  # a machine answered, or nobody did
            expected[call_id] = number
    assert len(lost) == 20
    return expected, lost


def _callbacks(fake: FakeVocode) -> list[Any]:
    return [b for b in fake.created if (b.context or {}).get("callback_of")]


def _synthesized(db: Path) -> int:
    return len(_rows(db, "SELECT 1 FROM calls WHERE status = 'synthesized'"))


def _counts(db: Path) -> tuple[int, ...]:
    return tuple(
        _rows(db, f"SELECT count(*) FROM {table}")[0][0]
        for table in ("events", "deliveries", "follow_ups")
    )


# -- two workers on PostgreSQL ----------------------------------------------------------------

CALLS = 120


@pytest.mark.postgres
def test_two_workers_on_postgresql_reconcile_each_call_once(pg_url: str, tmp_path: Path) -> None:
    """120 open calls whose ended events were lost, two `receiver worker` processes: each
    call is looked up once (by one of them), its event made once, each handler runs it once,
    and both workers took their share."""
    asyncio.run(_proof_table(pg_url))
    with FakeVocode(api_key=API_KEY) as fake:
        fake.inject(Fault(kind="delay", latency=0.02, operation="get_call"), times=CALLS)
        asyncio.run(_seed(pg_url, fake))
        env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
        env.update(
            PYTHONPATH=f"{TESTS}{os.pathsep}{env.get('PYTHONPATH', '')}",
            RECEIVER_DATABASE_URL=pg_url,
            RECEIVER_DATABASE_POOL_SIZE="4",
            RECEIVER_HANDLERS="fixture_pg_handlers:router",
            RECEIVER_VOCODE_API_KEY=API_KEY,
            RECEIVER_VOCODE_BASE_URL=fake.url,
            RECEIVER_RECONCILE_AFTER_SECONDS="1",
            RECEIVER_POLL_INTERVAL_SECONDS="0.1",
            RECEIVER_FOLLOW_UP_RATE_PER_SECOND="500",
            RECEIVER_LOG_FORMAT="json",
            RECEIVER_LOG_LEVEL="WARNING",
            PROOF_DATABASE_URL=pg_url,
        )
        fleet = Fleet(env, tmp_path)
        fleet.start("worker-1", "worker")
        fleet.start("worker-2", "worker")
        try:
            asyncio.run(_until_reconciled(pg_url, fleet))
            shares = [_lookups(fleet.url(name)) for name in ("worker-1", "worker-2")]
        finally:
            codes = fleet.stop()
        assert codes == {"worker-1": 0, "worker-2": 0}, {n: fleet.tail(n) for n in codes}
        assert Counter(fake.lookups.values()) == {1: CALLS}
        assert sum(shares) == CALLS and min(shares) > 0, shares
    asyncio.run(_each_made_and_run_once(pg_url))


async def _proof_table(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(PROOF_TABLE)
    finally:
        await conn.close()


async def _seed(url: str, fake: FakeVocode) -> None:
    """The calls, ended at the fake; each known here only by its connected event."""
    store = create_store(load_settings(database_url=url))
    await store.open()
    try:
        for i in range(CALLS):
            call_id = f"pg-call-{i:03d}"
            _, [connected, *_], _ = plan_play(
                fake.state, PlayRequest(url="http://unused", call_id=call_id, n_messages=0)
            )
            envelope = canonical(connected)
            event = NewEvent(
                new_event_id(), f"s:{call_id}", connected["type"], call_id, time.time(),
                "POST", "{}", envelope, envelope.encode(),
                handlers=("pg.first", "pg.second", "pg.third"),
            )  # fmt: skip
            await store.add_event(event)
    finally:
        await store.close()


async def _until_reconciled(url: str, fleet: Fleet, timeout: float = 120.0) -> None:
    conn = await asyncpg.connect(url)
    deadline = time.monotonic() + timeout
    client = httpx.AsyncClient()
    try:
        await fleet.ready(client)
        while await conn.fetchval(
            "SELECT count(*) FROM calls WHERE status = 'synthesized'"
        ) < CALLS or await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE status != 'done'"
        ):
            assert time.monotonic() < deadline, {n: fleet.tail(n) for n in fleet.procs}
            await asyncio.sleep(0.2)
    finally:
        await client.aclose()
        await conn.close()


def _lookups(url: str) -> int:
    text = httpx.get(f"{url}/metrics").text
    name = 'receiver_call_lookups_total{outcome="ended"}'
    line = next(line for line in text.splitlines() if line.startswith(name))
    return int(float(line.rsplit(" ", 1)[1]))


async def _each_made_and_run_once(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        made = await conn.fetch("SELECT id, call_id FROM events WHERE method = 'RECONCILE'")
        assert len(made) == len({r["call_id"] for r in made}) == CALLS
        runs = await conn.fetch(
            "SELECT handler, count(*) FROM proof_log WHERE event_id = any($1::text[])"
            " GROUP BY handler, event_id",
            [r["id"] for r in made],
        )
        assert len(runs) == 3 * CALLS and {r["count"] for r in runs} == {1}
    finally:
        await conn.close()
