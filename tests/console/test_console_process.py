"""The console in the real ``receiver serve`` process, and ``receiver events tail`` beside it."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console.support import OPERATOR
from receiver.settings import Settings

pytestmark = pytest.mark.process

RECEIVER = str(Path(sys.executable).with_name("receiver"))
DEADLINE = 20.0  # for start-up and shutdown: a deadline, not a measurement


def _env(**values: str) -> dict[str, str]:
    names = {f"RECEIVER_{name.upper()}" for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k not in names}
    return {**env, **values, "RECEIVER_LOG_FORMAT": "json"}


@pytest.fixture
def serve(tmp_path: Path, db_path: Path, free_port: int, token: str) -> Iterator[tuple]:
    """``(process, url, log)`` of a ``receiver serve`` with the console on."""
    log = tmp_path / "serve.log"
    env = _env(RECEIVER_TOKENS=token, RECEIVER_CONSOLE_TOKENS=OPERATOR,
               RECEIVER_DATABASE_URL=f"sqlite:///{db_path}")  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [RECEIVER, "serve", "--port", str(free_port)], env=env, stdout=out,
            stderr=subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
    url = f"http://127.0.0.1:{free_port}"
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"receiver serve did not start:\n{log.read_text()}")
        time.sleep(0.05)
    try:
        yield proc, url, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _read_stream(url: str, lines: queue.Queue[str]) -> None:
    headers = {"authorization": f"Bearer {OPERATOR}"}
    try:
        with httpx.stream("GET", f"{url}/console/tail/stream", headers=headers,
                          timeout=httpx.Timeout(5, read=None)) as response:  # fmt: skip
            lines.put(f"status {response.status_code}")
            for line in response.iter_lines():
                lines.put(line)
    except httpx.HTTPError as exc:
        lines.put(f"error {exc}")
    lines.put("closed")


def _until(lines: queue.Queue[str], wanted: str) -> list[str]:
    seen = []
    while wanted not in (line := lines.get(timeout=DEADLINE)):
        seen.append(line)
    return [*seen, line]


def test_a_tail_open_over_http_shows_new_events_and_sigterm_ends_it(serve, token) -> None:
    """A live tail streams a new event; SIGTERM then stops the server though the tail is
    still open (uvicorn would otherwise wait for that response forever)."""
    proc, url, log = serve
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_read_stream, args=(url, lines), daemon=True)
    reader.start()
    assert _until(lines, "retry:")[0] == "status 200"
    answer = httpx.post(f"{url}/webhooks/vocode/{token}", json={
        "type": "event_human_detection", "call_id": "c-tail", "payload": {"result": "human"},
    }).json()  # fmt: skip
    data = _until(lines, answer["id"])[-1]
    assert json.loads(data.removeprefix("data: "))["call_id"] == "c-tail"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=DEADLINE) in (0, -signal.SIGTERM)
    assert _until(lines, "closed")
    assert "Application shutdown complete." in log.read_text()


def test_events_tail_follows_new_events(serve, token, db_path) -> None:
    """``receiver events tail --json`` prints events stored after it started (and, with
    --since, those before), one JSON line each, and stops on Ctrl-C."""
    _, url, _ = serve
    hook = f"{url}/webhooks/vocode/{token}"
    before = httpx.post(hook, json={"type": "event_message", "call_id": "c-1",
                                    "payload": {"sender": "bot", "text": "hi"}}).json()  # fmt: skip
    env = _env(RECEIVER_DATABASE_URL=f"sqlite:///{db_path}")
    tails = {
        name: subprocess.Popen([RECEIVER, "events", "tail", *args], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for name, args in (("now", ["--json"]), ("since", ["--since", "1h"]))
    }  # fmt: skip
    try:
        for tail in tails.values():  # each has taken its starting point
            assert tail.stderr.readline().startswith("following events stored from")
        after = httpx.post(hook, json={"type": "event_human_detection", "call_id": "c-2",
                                       "payload": {"result": "human"}}).json()  # fmt: skip
        now = json.loads(tails["now"].stdout.readline())
        assert (now["id"], now["call_id"], now["type"]) == (
            after["id"], "c-2", "event_human_detection"
        )
        since = [tails["since"].stdout.readline(), tails["since"].stdout.readline()]
        assert before["id"] in since[0] and after["id"] in since[1]
        assert "event_message" in since[0] and "hi" not in since[0]  # no text in a line
    finally:
        for tail in tails.values():
            tail.send_signal(signal.SIGINT)
    for name, tail in tails.items():  # drained while they stop: a full pipe would block them
        try:
            _, err = tail.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            tail.kill()
            _, err = tail.communicate()
            pytest.fail(f"tail {name} did not stop on SIGINT; stderr:\n{err[-2000:]}")
        assert tail.returncode == 0, err
