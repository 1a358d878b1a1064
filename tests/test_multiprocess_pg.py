"""The proof across real processes on a real PostgreSQL.

Two ``receiver serve`` and two ``receiver worker`` share one database. Twenty producers post
10,000 events for 200 calls (a quarter of them twice, each copy to either receiver); three
handlers (two ordered, one not) append every run to a table; one worker is killed with
SIGKILL mid-run and started again. At the end: every acknowledged event is stored once, every
(event, handler) delivery is done once, each ordered handler saw each call's events in order,
and each follow-up intent made at most one call on the fake Vocode API.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fixture_pg_handlers import PROOF_TABLE
from keepalive_client import KeepAlive

from receiver.follow_ups.intent import FOLLOW_UP_KEY
from receiver.vocode.fake import FakeVocode

pytestmark = [pytest.mark.process, pytest.mark.postgres]

TESTS = Path(__file__).parent
CALLS, PER_CALL, PRODUCERS = 200, 50, 20
HANDLERS, ORDERED = ("pg.first", "pg.second", "pg.third"), ("pg.first", "pg.second")
TOKEN, API_KEY = "proof-token-0123456789abcdef", "proof-api-key-0123456789"
KILL_AFTER = 3000  # acknowledged events before the SIGKILL


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Fleet:
    """The receiver processes of one test, each with its own log file."""

    env: dict[str, str]
    logs: Path
    procs: dict[str, tuple[subprocess.Popen, int]] = field(default_factory=dict)

    def start(self, name: str, command: str, **env: str) -> None:
        port = _port()
        out = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "receiver", command, "--port", str(port)],
            env={**self.env, **env}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.procs[name] = (proc, port)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.procs[name][1]}"

    async def ready(self, client: httpx.AsyncClient, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name, (proc, _) in self.procs.items():
            while True:
                assert proc.poll() is None, f"{name} exited: {self.tail(name)}"
                try:
                    if (await client.get(self.url(name) + "/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"{name} not ready: {self.tail(name)}"
                await asyncio.sleep(0.1)

    def pid(self, name: str) -> int:
        return self.procs[name][0].pid

    def kill(self, name: str) -> int:
        proc, _ = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        return proc.pid

    def stop(self) -> dict[str, int | None]:
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = {}
        for name, (proc, _) in self.procs.items():
            try:
                codes[name] = proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        return codes

    def tail(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]


def _env(url: str, vocode_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    env.update(
        PYTHONPATH=f"{TESTS}{os.pathsep}{env.get('PYTHONPATH', '')}",
        RECEIVER_DATABASE_URL=url,
        RECEIVER_DATABASE_POOL_SIZE="4",
        RECEIVER_TOKENS=TOKEN,
        RECEIVER_HANDLERS="fixture_pg_handlers:router",
        RECEIVER_WORKER_CONCURRENCY="32",
        RECEIVER_POLL_INTERVAL_SECONDS="0.5",  # NOTIFY wakes workers; polling is the fallback
        # lease = handler timeout + 1 s; a timeout far above a run's 2 ms, so that only a kill,
        # never a busy machine, makes a delivery run again
        RECEIVER_LEASE_MARGIN_SECONDS="1",
        PROOF_TIMEOUT_SECONDS="8",
        RECEIVER_RETRY_BASE_SECONDS="0.1",
        RECEIVER_RETRY_CAP_SECONDS="1",
        RECEIVER_LOG_FORMAT="json",
        RECEIVER_LOG_LEVEL="WARNING",
        RECEIVER_VOCODE_API_KEY=API_KEY,
        RECEIVER_VOCODE_BASE_URL=vocode_url,
        RECEIVER_FOLLOW_UP_RATE_PER_SECOND="200",
        PROOF_DATABASE_URL=url,
        PROOF_WORK_SECONDS="0.002",
    )
    return env


def _body(call: int, n: int) -> dict[str, Any]:
    call_id = f"proof-call-{call:03d}"
    if n == PER_CALL - 1:
        payload = {
            "telephony_status": "no-answer",
            "proof_n": n,
            "proof_number": f"+1555{call:07d}",
        }
        return {"type": "event_phone_call_did_not_connect", "call_id": call_id, "payload": payload}
    payload = {"sender": "human", "text": f"message {n}", "timestamp": float(n), "proof_n": n}
    return {"type": "event_message", "call_id": call_id, "payload": payload}


async def _post(conn: KeepAlive, body: dict[str, Any]) -> tuple[int, str]:
    """Post until acknowledged, as Vocode would retry; answers (status, event id)."""
    for _ in range(20):
        try:
            status, answer = await conn.post_json(f"/webhooks/vocode/{TOKEN}", body)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        if status in (200, 202):
            return status, answer["id"]
        assert status == 503, answer
        await asyncio.sleep(0.2)
    raise AssertionError(f"never acknowledged: {body}")


async def _produce(urls: list[str], acks: dict) -> None:
    """Twenty producers; each posts its calls' events in order, each after the last's answer
    (a copy goes to either receiver, at the same time as the first)."""

    async def producer(k: int) -> None:
        rng = random.Random(k)
        conns = [[KeepAlive(url) for url in urls] for _ in range(2)]  # [copy][receiver]
        try:
            for n in range(PER_CALL):
                for call in range(k, CALLS, PRODUCERS):
                    copies = 2 if (call * PER_CALL + n) % 4 == 0 else 1
                    body = _body(call, n)
                    sends = [_post(rng.choice(conns[c]), body) for c in range(copies)]
                    acks[(call, n)] = await asyncio.gather(*sends)
        finally:
            for conn in (c for row in conns for c in row):
                await conn.close()

    await asyncio.gather(*(producer(k) for k in range(PRODUCERS)))


async def _kill_mid_handler(
    fleet: Fleet, db: asyncpg.Connection, client: httpx.AsyncClient, acks: dict, killed: list
) -> None:
    """SIGKILL worker-1 (its handlers are slow) while one of its handler runs is under way,
    once a third of the events are in; start it again a moment later."""
    pid, deadline = fleet.pid("worker-1"), time.monotonic() + 300
    while True:
        assert time.monotonic() < deadline, "worker-1 was never seen mid-handler"
        if len(acks) >= KILL_AFTER and await db.fetchval(
            "SELECT count(*) FROM proof_started s WHERE pid = $1 AND NOT EXISTS (SELECT 1"
            " FROM proof_log l WHERE (l.event_id, l.handler, l.attempt, l.pid)"
            " = (s.event_id, s.handler, s.attempt, s.pid))",
            pid,
        ):
            break
        await asyncio.sleep(0.05)
    killed.append(fleet.kill("worker-1"))
    await asyncio.sleep(1.0)
    fleet.start("worker-1-restarted", "worker")
    await fleet.ready(client)


def _evidence(logs: Path, needle: str) -> str:
    """The processes' log lines that name ``needle``, and a count of every warning kind."""
    lines, kinds = [], Counter()
    for path in sorted(logs.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if needle in line:
                lines.append(f"{path.stem}: {line[:400]}")
            if '"event": "' in line:
                kinds[(path.stem, line.split('"event": "', 1)[1].split('"', 1)[0])] += 1
    return f"log kinds {dict(kinds)}; lines naming it:\n" + "\n".join(lines[-40:])


async def _settle(db: asyncpg.Connection, logs: Path, timeout: float = 300) -> None:
    """Wait until every delivery is done and every intent created (a bound, not a measure)."""
    deadline = time.monotonic() + timeout
    total = CALLS * PER_CALL * len(HANDLERS)
    while True:
        done = await db.fetchval("SELECT count(*) FROM deliveries WHERE status = 'done'")
        created = await db.fetchval("SELECT count(*) FROM follow_ups WHERE status = 'created'")
        if done == total and created == CALLS:
            return
        dead = await db.fetchrow("SELECT * FROM deliveries WHERE status = 'dead' LIMIT 1")
        if dead is not None:
            runs = await db.fetch(
                "SELECT attempt, pid FROM proof_log WHERE event_id = $1 AND handler = $2",
                dead["event_id"], dead["handler"],
            )  # fmt: skip
            raise AssertionError(
                f"a delivery is dead: {dict(dead)}; its runs {[tuple(r) for r in runs]}; "
                + _evidence(logs, dead["event_id"])
            )
        if time.monotonic() > deadline:
            states = await db.fetch("SELECT status, count(*) FROM deliveries GROUP BY status")
            raise AssertionError(f"not settled: {dict(states)}; follow-ups created {created}")
        await asyncio.sleep(0.5)


async def _check_events(db: asyncpg.Connection, acks: dict) -> Counter[str]:
    stored = {row["id"]: row["n"] for row in await db.fetch(
        "SELECT id, (envelope->'payload'->>'proof_n')::int AS n FROM events")}  # fmt: skip
    answers: Counter[str] = Counter()
    assert len(acks) == CALLS * PER_CALL and len(stored) == CALLS * PER_CALL
    for (_, n), copies in acks.items():
        assert len({event_id for _, event_id in copies}) == 1  # both copies: the same event
        assert sorted(status for status, _ in copies) in ([202], [200, 202])
        assert stored[copies[0][1]] == n
        answers.update("duplicate" if status == 200 else "stored" for status, _ in copies)
    return answers


async def _check_deliveries(db: asyncpg.Connection, killed_pid: int) -> dict[str, int]:
    rows = await db.fetch("SELECT handler, status, count(*) AS n FROM deliveries GROUP BY 1, 2")
    assert {(r["handler"], r["status"]): r["n"] for r in rows} == {
        (h, "done"): CALLS * PER_CALL for h in HANDLERS
    }
    # the run each delivery was recorded done by appended exactly once
    final = await db.fetch(
        "SELECT d.id, count(l.id) AS n FROM deliveries d LEFT JOIN proof_log l"
        " ON l.event_id = d.event_id AND l.handler = d.handler AND l.attempt = d.attempts"
        " GROUP BY d.id"
    )
    assert Counter(r["n"] for r in final) == Counter({1: CALLS * PER_CALL * len(HANDLERS)})
    # other runs: only earlier attempts, and only in the killed process
    earlier = await db.fetch(
        "SELECT l.pid, count(*) AS n FROM proof_log l JOIN deliveries d"
        " ON l.event_id = d.event_id AND l.handler = d.handler AND l.attempt < d.attempts"
        " GROUP BY l.pid"
    )
    assert {r["pid"] for r in earlier} <= {killed_pid}
    return {
        "runs_appended": await db.fetchval("SELECT count(*) FROM proof_log"),
        "runs_of_the_killed_worker": await db.fetchval(
            "SELECT count(*) FROM proof_log WHERE pid = $1", killed_pid
        ),
        "re_run_after_kill": sum(r["n"] for r in earlier),
        "deliveries_with_attempts_gt_1": await db.fetchval(
            "SELECT count(*) FROM deliveries WHERE attempts > 1"
        ),
    }


async def _check_order(db: asyncpg.Connection) -> None:
    for handler in ORDERED:
        rows = await db.fetch(
            "SELECT call_id, n FROM proof_log WHERE handler = $1 ORDER BY id", handler
        )
        by_call: dict[str, list[int]] = {}
        for row in rows:
            by_call.setdefault(row["call_id"], []).append(row["n"])
        for call_id, seen in by_call.items():
            assert seen == sorted(seen), (handler, call_id, seen)  # repeats only of a re-run
            assert sorted(set(seen)) == list(range(PER_CALL)), (handler, call_id)


def _check_follow_ups(fake: FakeVocode, keys: list[str]) -> None:
    made = Counter((request.context or {}).get(FOLLOW_UP_KEY) for request in fake.created)
    assert len(keys) == len(set(keys)) == CALLS
    assert set(made) == set(keys) and set(made.values()) == {1}


async def test_two_receivers_two_workers_one_killed(pg_url: str, tmp_path: Path) -> None:
    """10,000 events through 2 serve + 2 worker processes, one SIGKILLed: all exactly once."""
    setup, watch = await asyncpg.connect(pg_url), await asyncpg.connect(pg_url)
    await setup.execute(PROOF_TABLE)
    with FakeVocode(api_key=API_KEY) as fake:
        fleet = Fleet(_env(pg_url, fake.url), tmp_path)
        for name, command in (("serve-1", "serve"), ("serve-2", "serve")):
            fleet.start(name, command)
        fleet.start("worker-1", "worker", PROOF_MARK_START="1", PROOF_WORK_SECONDS="0.2")
        fleet.start("worker-2", "worker")
        killed: list[int] = []
        acks: dict = {}
        started = time.monotonic()
        try:
            limits = httpx.Limits(max_connections=2 * PRODUCERS)
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                await fleet.ready(client)
                urls = [fleet.url("serve-1"), fleet.url("serve-2")]
                await asyncio.gather(
                    _produce(urls, acks),
                    _kill_mid_handler(fleet, watch, client, acks, killed),
                )
                posted = time.monotonic() - started
                await _settle(setup, tmp_path)
        finally:
            codes = fleet.stop()
        settled = time.monotonic() - started
        keys = [r["key"] for r in await setup.fetch("SELECT key FROM follow_ups")]
        answers = await _check_events(setup, acks)
        numbers = await _check_deliveries(setup, killed[0])
        await _check_order(setup)
        _check_follow_ups(fake, keys)
        await setup.close()
        await watch.close()
    assert all(code == 0 for code in codes.values()), codes
    assert numbers["runs_of_the_killed_worker"] > 0
    assert numbers["deliveries_with_attempts_gt_1"] > 0  # what it was running ran again
    print(
        f"\nproof: {dict(answers)} answers; {numbers}; follow-up calls {len(fake.created)};"
        f" posted in {posted:.1f}s, all done in {settled:.1f}s"
    )
