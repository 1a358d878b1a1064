"""The one real ``receiver serve``: a subprocess on a free port, spoken to over HTTP."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from receiver.settings import Settings

pytestmark = pytest.mark.process

RECEIVER = str(Path(sys.executable).with_name("receiver"))
STARTUP_SECONDS = 20  # a deadline for start-up, not a measurement


def receiver_env(**values: str) -> dict[str, str]:
    """This process's environment without any RECEIVER_<SETTING>, plus ``values``."""
    settings_vars = {f"RECEIVER_{name.upper()}" for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k not in settings_vars}
    env.update(values, RECEIVER_LOG_FORMAT="json")
    return env


def wait_until_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"receiver serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"receiver serve did not answer /healthz in time:\n{log.read_text()}")


@pytest.fixture
def running_server(
    tmp_path: Path, db_path: Path, free_port: int, token: str
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``(process, base url, log file)`` of a started ``receiver serve``; killed if still up."""
    log = tmp_path / "serve.log"
    env = receiver_env(RECEIVER_TOKENS=token, RECEIVER_DATABASE_URL=f"sqlite:///{db_path}")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [RECEIVER, "serve", "--host", "127.0.0.1", "--port", str(free_port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    url = f"http://127.0.0.1:{free_port}"
    try:
        wait_until_healthy(proc, url, log)
        yield proc, url, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_real_server_accepts_a_post_and_stops_cleanly(
    running_server, token, sample_bytes, db_path
) -> None:
    """``receiver serve`` answers 202 over HTTP, the row is on disk, SIGTERM stops it cleanly."""
    proc, url, log = running_server
    body = sample_bytes("event_message")
    with httpx.Client(base_url=url, timeout=10) as client:
        accepted = client.post(
            f"/webhooks/vocode/{token}", content=body, headers={"content-type": "application/json"}
        )
        duplicate = client.post(
            f"/webhooks/vocode/{token}", content=body, headers={"content-type": "application/json"}
        )
        refused = client.post("/webhooks/vocode/not-the-token-0000000000", content=body)
        ready = client.get("/readyz")
    assert accepted.status_code == 202
    assert (duplicate.status_code, duplicate.json()["id"]) == (200, accepted.json()["id"])
    assert refused.status_code == 401
    assert ready.status_code == 200

    conn = sqlite3.connect(db_path)
    rows = conn.execute("SELECT id, raw FROM events").fetchall()
    conn.close()
    assert rows == [(accepted.json()["id"], body)]

    assert Path(f"{db_path}-wal").exists()  # in WAL mode while it runs
    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught: 0 or "by SIGTERM"
    assert proc.wait(timeout=STARTUP_SECONDS) in (0, -signal.SIGTERM)
    output = log.read_text()
    assert "Application shutdown complete." in output  # the lifespan (store close) finished
    assert "Traceback" not in output
    assert token not in output  # the path carries the token; it must not reach the logs
    assert not Path(f"{db_path}-wal").exists()  # every connection closed: WAL checkpointed


def test_real_serve_refuses_to_start_without_a_token(tmp_path, db_path) -> None:
    """The real command, with no token set, exits non-zero naming RECEIVER_TOKENS."""
    env = receiver_env(RECEIVER_DATABASE_URL=f"sqlite:///{db_path}")
    done = subprocess.run(
        [RECEIVER, "serve"], env=env, capture_output=True, cwd=tmp_path, timeout=STARTUP_SECONDS
    )
    assert done.returncode != 0
    assert b"RECEIVER_TOKENS" in done.stderr
    assert not db_path.exists()  # refused before touching the database
