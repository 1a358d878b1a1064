"""``receiver events list|show`` and ``receiver migrate`` against a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from receiver.app import create_app
from receiver.settings import Settings
from receiver.store.sqlite.schema import VERSIONS as MIGRATIONS

Deliver = Callable[..., list[str]]


@pytest.fixture
def deliver(settings: Settings, hook: str) -> Deliver:
    """``deliver(*bodies, headers=None) -> ids``: POST each body through the real intake."""

    def run(*bodies: dict[str, Any], headers: dict[str, str] | None = None) -> list[str]:
        async def main() -> list[str]:
            app = create_app(settings)
            transport = httpx.ASGITransport(app=app)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client,
            ):
                ids = []
                for body in bodies:
                    response = await client.post(
                        hook,
                        content=json.dumps(body).encode(),
                        headers={"content-type": "application/json", **(headers or {})},
                    )
                    assert response.status_code == 202, response.text
                    ids.append(response.json()["id"])
                return ids

        return asyncio.run(main())

    return run


def body(kind: str, call_id: str, **payload: Any) -> dict[str, Any]:
    return {"type": kind, "call_id": call_id, "payload": payload}


def test_list_json_newest_first(cli, deliver) -> None:
    """``events list --json`` prints one object per line, newest first."""
    ids = deliver(body("event_message", "c1", text="a"), body("event_recording", "c2"))
    result = cli("events", "list", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["id"] for line in lines] == ids[::-1]
    assert lines[0] == {
        "id": ids[1],
        "type": "event_recording",
        "call_id": "c2",
        "received_at": lines[0]["received_at"],
        "method": "POST",
        "quarantined": False,
    }
    datetime.fromisoformat(lines[0]["received_at"])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--type", "event_recording"], [2]),
        (["--call-id", "c1"], [3, 0]),
        (["--type", "event_message", "--call-id", "c1"], [3, 0]),
        (["--limit", "2"], [3, 2]),
        (["--type", "event_transcript"], []),
    ],
    ids=["type", "call-id", "both", "limit", "none"],
)
def test_list_filters(cli, deliver, options, expected) -> None:
    """``--type``, ``--call-id`` and ``--limit`` narrow the list."""
    ids = deliver(
        body("event_message", "c1", text="a"),
        body("event_message", "c2", text="b"),
        body("event_recording", "c2"),
        body("event_message", "c1", text="c"),
    )
    result = cli("events", "list", "--json", *options)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.output.splitlines()] == [
        ids[n] for n in expected
    ]


def test_list_table(cli, deliver) -> None:
    """Without ``--json``, events are shown as a table with id, type and call id."""
    [event_id] = deliver(body("event_human_detection", "call-77", result="human"))
    result = cli("events", "list")
    assert result.exit_code == 0, result.output
    assert event_id in result.output
    assert "event_human_detection" in result.output
    assert "call-77" in result.output


def test_show_prints_everything_stored(cli, deliver, sample) -> None:
    """``events show ID`` prints the raw body, parsed envelope, received time and headers."""
    sent = sample("event_message")
    [event_id] = deliver(sent, headers={"x-request-id": "req-1"})
    result = cli("events", "show", event_id)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["id"] == event_id
    assert shown["raw"] == json.dumps(sent)
    assert shown["envelope"] == sent
    assert shown["headers"]["x-request-id"] == "req-1"
    assert shown["method"] == "POST"
    datetime.fromisoformat(shown["received_at"])


def test_show_omits_secret_headers(cli, deliver, token) -> None:
    """Headers shown by ``events show`` carry no Authorization, Cookie or token."""
    [event_id] = deliver(
        body("event_human_detection", "c", result="human"),
        headers={"authorization": f"Bearer {token}", "cookie": "sid=1"},
    )
    result = cli("events", "show", event_id)
    assert result.exit_code == 0, result.output
    headers = json.loads(result.output)["headers"]
    assert "authorization" not in headers
    assert "cookie" not in headers
    assert token not in result.output


def test_show_unknown_id_fails(cli, deliver) -> None:
    """``events show`` of an id that is not stored exits non-zero and says so."""
    deliver(body("event_human_detection", "c", result="human"))
    result = cli("events", "show", "evt_nope")
    assert result.exit_code == 1
    assert "no event evt_nope" in result.output


def test_events_list_names_a_bad_database_url(cli) -> None:
    """An unsupported RECEIVER_DATABASE_URL stops the command with the variable's name."""
    result = cli("events", "list", env={"RECEIVER_DATABASE_URL": "mysql://db/receiver"})
    assert result.exit_code == 1
    assert "RECEIVER_DATABASE_URL" in result.output


def test_migrate_fresh_database(cli, db_path) -> None:
    """``receiver migrate`` on a new file creates the schema and reports the version."""
    result = cli("migrate")
    assert result.exit_code == 0, result.output
    latest = len(MIGRATIONS)
    assert f"schema version {latest} (latest {latest})" in result.output
    conn = sqlite3.connect(db_path)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"events", "deliveries"} <= tables


def test_migrate_twice_is_idempotent(cli, db_path) -> None:
    """A second ``receiver migrate`` changes nothing and succeeds."""
    first = cli("migrate")
    second = cli("migrate")
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert first.output == second.output
    conn = sqlite3.connect(db_path)
    versions = conn.execute("SELECT version FROM schema_version").fetchall()
    conn.close()
    assert versions == [(v,) for v in range(1, len(MIGRATIONS) + 1)]


def test_migrate_refuses_a_newer_database(cli, db_path) -> None:
    """``receiver migrate`` on a database newer than the code exits non-zero with a reason."""
    assert cli("migrate").exit_code == 0
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO schema_version VALUES (99, 0)")
    conn.commit()
    conn.close()
    result = cli("migrate")
    assert result.exit_code == 1
    assert "schema version 99" in result.output
