"""Process layouts for a second core: intake-only ``receiver serve`` processes sharing one port
(``--intake-only --reuse-port``) beside a ``receiver worker``, on one SQLite file."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from test_serve_process import RECEIVER, STARTUP_SECONDS, receiver_env, wait_until_healthy

pytestmark = pytest.mark.process


def _lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_intake_only_serves_share_a_port_and_the_worker_runs_every_delivery(
    tmp_path: Path, db_path: Path, free_port: int, token: str, sample_bytes
) -> None:
    """Two `serve --intake-only --reuse-port` on one port both take requests and run no
    handler; a `receiver worker` beside them runs every delivery, once."""
    env = receiver_env(
        RECEIVER_TOKENS=token,
        RECEIVER_DATABASE_URL=f"sqlite:///{db_path}",
        RECEIVER_LOG_LEVEL="INFO",
        RECEIVER_POLL_INTERVAL_SECONDS="0.1",
    )
    url = f"http://127.0.0.1:{free_port}"
    serve = [RECEIVER, "serve", "--port", str(free_port), "--intake-only", "--reuse-port"]
    procs, logs = [], []
    try:
        for n in range(2):
            logs.append(tmp_path / f"serve{n}.log")
            with logs[-1].open("wb") as out:
                procs.append(subprocess.Popen(serve, env=env, stdout=out, stderr=out))
            wait_until_healthy(procs[-1], url, logs[-1])
        logs.append(tmp_path / "worker.log")
        with logs[-1].open("wb") as out:
            worker = [RECEIVER, "worker", "--port", "0"]
            procs.append(subprocess.Popen(worker, env=env, stdout=out, stderr=out))
        body = json.loads(sample_bytes("event_message"))
        ids = set()
        for n in range(40):  # a connection each: the kernel spreads them over both processes
            body["call_id"] = f"call-{n}"
            answer = httpx.post(f"{url}/webhooks/vocode/{token}", json=body, timeout=10)
            assert answer.status_code == 202
            ids.add(answer.json()["id"])
        deadline = time.monotonic() + STARTUP_SECONDS
        done: list[str] = []
        while len(done) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.1)
            with sqlite3.connect(db_path) as conn:
                rows = conn.execute("SELECT event_id FROM deliveries WHERE status = 'done'")
                done = [row[0] for row in rows]
        assert sorted(done) == sorted(ids)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(STARTUP_SECONDS)
    serve_lines = [_lines(log) for log in logs[:2]]
    for lines in serve_lines:
        assert any(line["event"] == "webhook_request" for line in lines)  # both took requests
        assert not any(line["event"] == "delivery_finished" for line in lines)
    finished = [line for line in _lines(logs[2]) if line["event"] == "delivery_finished"]
    assert sorted(line["event_id"] for line in finished) == sorted(ids)  # each ran once
