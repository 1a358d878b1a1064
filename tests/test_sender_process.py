"""A real worker process killed between "sending" and "created": the call is made once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sender import API_KEY, calls_for, intent

from receiver.store.sqlite.store import SQLiteStore
from receiver.vocode.fake import FakeVocode, Fault

pytestmark = pytest.mark.process


def _start_worker(db: Path, fake: FakeVocode, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    env.update(
        RECEIVER_DATABASE_URL=f"sqlite:///{db}",
        RECEIVER_HANDLERS="handlers.log:router",
        RECEIVER_VOCODE_API_KEY=API_KEY,
        RECEIVER_VOCODE_BASE_URL=fake.url,
        RECEIVER_VOCODE_TIMEOUT_SECONDS="2",
        RECEIVER_FOLLOW_UP_LEASE_SECONDS="4",
        RECEIVER_FOLLOW_UP_RECONCILE_DELAY_SECONDS="0",
        RECEIVER_POLL_INTERVAL_SECONDS="0.1",
        RECEIVER_LOG_FORMAT="json",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "receiver", "worker", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _status(db: Path, key: str) -> tuple[str, str | None]:
    async def read() -> tuple[str, str | None]:
        store = SQLiteStore(str(db))
        await store.open()
        record = await store.get_follow_up(key)
        await store.close()
        return record.status, record.vocode_call_id

    return asyncio.run(read())


def _wait(condition, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached")
        time.sleep(0.05)


def test_sigkill_between_sending_and_created(tmp_path: Path, free_port: int) -> None:
    """Killed while the fake holds its created call unanswered, the restarted worker finds
    the call by its key and records it: the fake recorded exactly one call for the intent."""
    db = tmp_path / "r.db"

    async def seed() -> str:
        store = SQLiteStore(str(db))
        await store.open()
        key = await intent(store)
        await store.close()
        return key

    key = asyncio.run(seed())
    with FakeVocode(api_key=API_KEY) as fake:
        fake.inject(Fault.commit_then_timeout(hang_seconds=30))
        first = _start_worker(db, fake, free_port)
        try:
            _wait(lambda: calls_for(fake, key) == 1, "the fake recording the call")
            assert _status(db, key)[0] == "sending"
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        second = _start_worker(db, fake, free_port)
        try:
            _wait(lambda: _status(db, key)[0] == "created", "the intent being created")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0, second.stderr.read()
        assert calls_for(fake, key) == 1
        assert _status(db, key)[1] == fake.calls[0].id
