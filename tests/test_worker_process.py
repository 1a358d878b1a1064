"""Real `receiver worker` processes: killed mid-handler, drained on SIGTERM, refused at start."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from receiver.store.records import DeliveryFilter, NewEvent
from receiver.store.sqlite.store import SQLiteStore

pytestmark = pytest.mark.process
TESTS = Path(__file__).parent
RECEIVER = [sys.executable, "-m", "receiver"]
CLEAN_EXIT = (0,)  # a graceful shutdown exits with status 0


def _env(db: Path, log: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    env.update(
        PYTHONPATH=f"{TESTS}{os.pathsep}{env.get('PYTHONPATH', '')}",
        RECEIVER_DATABASE_URL=f"sqlite:///{db}",
        RECEIVER_HANDLERS="fixture_handlers:router",
        RECEIVER_POLL_INTERVAL_SECONDS="0.1",
        RECEIVER_LEASE_MARGIN_SECONDS="1",
        RECEIVER_LOG_FORMAT="json",
        FIXTURE_LOG=str(log),
    )
    env.update(extra)
    return env


def _seed(db: Path, count: int = 1) -> list[str]:
    async def run() -> list[str]:
        store = SQLiteStore(str(db))
        await store.open()
        ids = []
        for n in range(count):
            envelope = f'{{"type":"event_message","call_id":"c{n}","payload":{{}}}}'
            event = NewEvent(
                f"evt_{n}", f"k{n}", "event_message", f"c{n}", time.time(), "POST", "{}",
                envelope, envelope.encode(), ("fx.slow_first",),
            )  # fmt: skip
            ids.append((await store.add_event(event)).id)
        await store.close()
        return ids

    return asyncio.run(run())


def _deliveries(db: Path) -> list:
    async def run() -> list:
        store = SQLiteStore(str(db))
        await store.open()
        rows = await store.list_deliveries(DeliveryFilter())
        await store.close()
        return rows

    return asyncio.run(run())


def _wait_for_line(log: Path, line: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and line in log.read_text().splitlines():
            return
        if proc.poll() is not None:
            raise AssertionError(f"worker exited {proc.returncode}: {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"{line!r} not seen; log: {log.read_text() if log.exists() else ''}")


def _start(env: dict[str, str], port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [*RECEIVER, "worker", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_sigkill_mid_handler_runs_again_after_the_lease(tmp_path: Path, free_port: int) -> None:
    """A worker killed mid-handler leaves the delivery to be re-run after its lease; done once."""
    db, log = tmp_path / "r.db", tmp_path / "handler.log"
    [event_id] = _seed(db)
    env = _env(db, log, FIXTURE_HANG_FIRST="1")
    first = _start(env, free_port)
    try:
        _wait_for_line(log, f"start {event_id} 1", first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    second = _start(env, free_port)
    try:
        _wait_for_line(log, f"done {event_id} 2", second)
        [row] = _deliveries(db)
        deadline = time.monotonic() + 10
        while row.status != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
            [row] = _deliveries(db)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) in CLEAN_EXIT
    assert (row.status, row.attempts) == ("done", 2)
    lines = log.read_text().splitlines()
    assert lines == [f"start {event_id} 1", f"start {event_id} 2", f"done {event_id} 2"]


def test_sigterm_lets_running_handlers_finish(tmp_path: Path, free_port: int) -> None:
    """SIGTERM during a handler: the handler completes and its delivery is recorded done."""
    db, log = tmp_path / "r.db", tmp_path / "handler.log"
    [event_id] = _seed(db)
    proc = _start(_env(db, log, FIXTURE_WORK_SECONDS="1"), free_port)
    _wait_for_line(log, f"start {event_id} 1", proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) in CLEAN_EXIT
    assert f"done {event_id} 1" in log.read_text().splitlines()
    [row] = _deliveries(db)
    assert row.status == "done"


def test_handler_import_failure_stops_start_up(tmp_path: Path) -> None:
    """A handler module that cannot be imported stops `receiver worker` with the import error."""
    env = _env(tmp_path / "r.db", tmp_path / "l", RECEIVER_HANDLERS="no_such_team.hooks:router")
    result = subprocess.run(
        [*RECEIVER, "worker"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "no_such_team" in result.stderr and "ModuleNotFoundError" in result.stderr
    assert "Traceback" not in result.stderr
