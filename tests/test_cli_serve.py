"""``receiver serve`` start-up checks, in-process (the server itself is replaced by a recorder).

The real server is started once, in ``test_serve_process.py``.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import structlog

import receiver.logs

# the package re-exports the ``serve`` command under the module's own name
serve_module = importlib.import_module("receiver.cli.serve")


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace the uvicorn run and the global log set-up; record each would-be server start."""
    starts: list[dict[str, Any]] = []
    monkeypatch.setattr(
        serve_module,
        "_run",
        lambda app, settings, host, port, reuse_port=False: starts.append(locals()),
    )
    monkeypatch.setattr(receiver.logs, "configure", lambda settings: None)
    return starts


def test_serve_refuses_to_start_without_a_token(cli, served) -> None:
    """No RECEIVER_TOKENS and no opt-in: non-zero exit naming RECEIVER_TOKENS, nothing served."""
    result = cli("serve", env={"RECEIVER_TOKENS": None})
    assert result.exit_code == 1
    assert "RECEIVER_TOKENS" in result.output
    assert "RECEIVER_ALLOW_UNAUTHENTICATED" in result.output
    assert served == []


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"RECEIVER_TOKENS": "short"}, "RECEIVER_TOKENS"),
        ({"RECEIVER_SUBSCRIPTIONS": "event_message,event_bogus"}, "RECEIVER_SUBSCRIPTIONS"),
        ({"RECEIVER_MAX_BODY_BYTES": "-1"}, "RECEIVER_MAX_BODY_BYTES"),
        ({"RECEIVER_DATABASE_URL": "mysql://db/x"}, "RECEIVER_DATABASE_URL"),
        ({"RECEIVER_CONSOLE_TOKENS": "test-token-0123456789abcdef"}, "RECEIVER_CONSOLE_TOKENS"),
        ({"RECEIVER_CONSOLE_TOKENS": "short"}, "RECEIVER_CONSOLE_TOKENS"),
    ],
    ids=[
        "short-token",
        "unknown-subscription",
        "negative-limit",
        "database-url",
        "console-token-is-a-webhook-token",
        "short-console-token",
    ],
)
def test_serve_exits_on_a_bad_setting(cli, served, env, variable) -> None:
    """A wrong setting stops ``receiver serve`` with a non-zero exit naming the variable."""
    result = cli("serve", env=env)
    assert result.exit_code == 1
    assert f"Error: {variable}: " in result.output
    assert served == []


def test_serve_warns_at_every_unauthenticated_start(cli, served) -> None:
    """With RECEIVER_ALLOW_UNAUTHENTICATED=true and no token, each start logs a warning."""
    env = {"RECEIVER_TOKENS": None, "RECEIVER_ALLOW_UNAUTHENTICATED": "true"}
    with structlog.testing.capture_logs() as logs:
        first = cli("serve", env=env)
        second = cli("serve", env=env)
    assert (first.exit_code, second.exit_code) == (0, 0)
    warnings = [e for e in logs if e["event"] == "unauthenticated_endpoint"]
    assert len(warnings) == 2
    assert all(e["log_level"] == "warning" for e in warnings)
    assert len(served) == 2


def test_serve_with_a_token_does_not_warn(cli, served) -> None:
    """A token set means no unauthenticated warning."""
    with structlog.testing.capture_logs() as logs:
        result = cli("serve")
    assert result.exit_code == 0, result.output
    assert not [e for e in logs if e["event"] == "unauthenticated_endpoint"]


def test_serve_host_and_port_options(cli, served) -> None:
    """``--host`` and ``--port`` choose where the server listens."""
    result = cli("serve", "--host", "0.0.0.0", "--port", "9123")
    assert result.exit_code == 0, result.output
    assert (served[0]["host"], served[0]["port"]) == ("0.0.0.0", 9123)


def test_serve_defaults_to_local_port_8000_and_receiver_db(
    cli, served, tmp_path, monkeypatch
) -> None:
    """With no option or variable set, it listens on 127.0.0.1:8000 and stores in ./receiver.db."""
    monkeypatch.chdir(tmp_path)
    result = cli("serve", env={"RECEIVER_DATABASE_URL": None})
    assert result.exit_code == 0, result.output
    start = served[0]
    assert (start["host"], start["port"]) == ("127.0.0.1", 8000)
    assert str(start["app"].state.services.settings.database_url) == "sqlite:///./receiver.db"


def test_serve_reads_host_and_port_from_the_environment(cli, served) -> None:
    """RECEIVER_HOST and RECEIVER_PORT apply when no option is given."""
    result = cli("serve", env={"RECEIVER_HOST": "127.0.0.2", "RECEIVER_PORT": "9999"})
    assert result.exit_code == 0, result.output
    assert (served[0]["host"], served[0]["port"]) == ("127.0.0.2", 9999)


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_log_an_unknown_variable(cli, served, command: str) -> None:
    """A misspelt RECEIVER_TOKEN is a logged warning naming RECEIVER_TOKENS (a log line, not
    plain text on standard error); the process still starts."""
    with structlog.testing.capture_logs() as logs:
        result = cli(command, env={"RECEIVER_TOKEN": "x"})
    assert result.exit_code == 0, result.output
    [warning] = [e for e in logs if e["event"] == "unknown_setting"]
    assert warning["variable"] == "RECEIVER_TOKEN" and warning["log_level"] == "warning"
    assert warning["hint"] == "did you mean RECEIVER_TOKENS?"
    assert "RECEIVER_TOKEN" not in result.output
    assert len(served) == 1
