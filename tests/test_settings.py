"""Settings: read from RECEIVER_* once; a bad value names its variable and what was expected."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from receiver.cli import main
from receiver.errors import DependencyError, SettingsError
from receiver.events import EVENT_TYPES
from receiver.settings import DEFAULT_DATABASE_URL, load_settings, unknown_variables
from receiver.store import create_store

LONG = "a-token-of-sixteen+"


def test_defaults() -> None:
    """Unset, the service stores in ./receiver.db, takes GET and POST, 1 MiB, all eight types."""
    settings = load_settings()
    assert str(settings.database_url) == DEFAULT_DATABASE_URL == "sqlite:///./receiver.db"
    assert settings.methods == ("GET", "POST")
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.subscriptions == EVENT_TYPES
    assert settings.webhook_path == "/webhooks/vocode"
    assert settings.tokens == ()
    assert settings.allow_unauthenticated is False


def test_read_from_the_environment(monkeypatch) -> None:
    """Values come from RECEIVER_* variables; lists are comma-separated and trimmed."""
    monkeypatch.setenv("RECEIVER_TOKENS", f" {LONG}1 , {LONG}2 ,")
    monkeypatch.setenv("RECEIVER_SUBSCRIPTIONS", "event_message,event_recording")
    monkeypatch.setenv("RECEIVER_METHODS", "post")
    monkeypatch.setenv("RECEIVER_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("RECEIVER_DATABASE_URL", "sqlite:////tmp/x.db")
    settings = load_settings()
    assert settings.tokens == (f"{LONG}1", f"{LONG}2")
    assert settings.subscriptions == ("event_message", "event_recording")
    assert settings.methods == ("POST",)
    assert settings.max_body_bytes == 2048
    assert str(settings.database_url) == "sqlite:////tmp/x.db"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RECEIVER_TOKENS", f"{LONG},short-tok", "at least 16 characters"),
        ("RECEIVER_SUBSCRIPTIONS", "event_message,event_bogus", "event_bogus"),
        ("RECEIVER_METHODS", "GET,PUT", "expected GET, POST"),
        ("RECEIVER_MAX_BODY_BYTES", "0", "greater than 0"),
        ("RECEIVER_MAX_BODY_BYTES", "lots", "integer"),
        ("RECEIVER_WEBHOOK_PATH", "webhooks", "must start with /"),
        ("RECEIVER_ALLOW_UNAUTHENTICATED", "perhaps", "boolean"),
        ("RECEIVER_SQLITE_SYNCHRONOUS", "OFF", "FULL"),
    ],
)
def test_bad_value_names_its_variable(monkeypatch, variable, value, expected) -> None:
    """A wrong setting raises SettingsError whose message names the variable and the rule."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable}: ")
    assert expected in message


def test_short_token_is_not_repeated_in_the_error(monkeypatch) -> None:
    """The error about a too-short token does not print the token."""
    monkeypatch.setenv("RECEIVER_TOKENS", "tiny-secret")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "tiny-secret" not in str(caught.value)


def test_every_bad_variable_is_reported_at_once(monkeypatch) -> None:
    """Several wrong settings are all reported, one line each."""
    monkeypatch.setenv("RECEIVER_TOKENS", "short")
    monkeypatch.setenv("RECEIVER_SUBSCRIPTIONS", "event_bogus")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert {line.split(":", 1)[0] for line in lines} == {
        "RECEIVER_TOKENS",
        "RECEIVER_SUBSCRIPTIONS",
    }


def test_serving_without_a_token_is_refused() -> None:
    """With no token and no explicit opt-in, serving is refused, naming both variables."""
    with pytest.raises(SettingsError) as caught:
        load_settings().check_serving()
    assert str(caught.value).startswith("RECEIVER_TOKENS: ")
    assert "RECEIVER_ALLOW_UNAUTHENTICATED=true" in str(caught.value)


def test_serving_unauthenticated_when_allowed() -> None:
    """RECEIVER_ALLOW_UNAUTHENTICATED=true lets the service start without a token."""
    load_settings(allow_unauthenticated=True).check_serving()


def test_settings_are_frozen() -> None:
    """Settings are read once; the object cannot be changed afterwards."""
    settings = load_settings()
    with pytest.raises(ValueError):
        settings.max_body_bytes = 1  # type: ignore[misc]


def test_database_url_is_parsed_once() -> None:
    """``sqlite:///rel.db`` is a relative path and ``sqlite:////abs.db`` an absolute one;
    both PostgreSQL spellings name the PostgreSQL store; anything else is refused."""
    assert load_settings(database_url="sqlite:///./receiver.db").database_url.path == (
        "./receiver.db"
    )
    absolute = load_settings(database_url="sqlite:////var/lib/receiver.db").database_url
    assert (absolute.dialect, absolute.path) == ("sqlite", "/var/lib/receiver.db")
    for url in ("postgresql://u@db/r", "postgres://u@db/r"):
        assert load_settings(database_url=url).database_url.dialect == "postgresql"
    with pytest.raises(SettingsError, match="RECEIVER_DATABASE_URL: expected sqlite:///"):
        load_settings(database_url="mysql://db/receiver")


@pytest.mark.parametrize("written", ["warning", "Warning", " WARNING ", "debug"])
def test_log_level_in_any_case(monkeypatch, written: str) -> None:
    """RECEIVER_LOG_LEVEL=warning is read as WARNING, as logging and uvicorn take it."""
    monkeypatch.setenv("RECEIVER_LOG_LEVEL", written)
    assert load_settings().log_level == written.strip().upper()


def test_an_unknown_variable_names_the_closest_setting(monkeypatch) -> None:
    """RECEIVER_TOKEN (misspelt) is reported with RECEIVER_TOKENS; the harness's own
    variables are not reported; settings still load."""
    monkeypatch.setenv("RECEIVER_TOKEN", LONG)
    monkeypatch.setenv("RECEIVER_LOG_LEVLE", "debug")
    monkeypatch.setenv("RECEIVER_ZZZ", "1")
    monkeypatch.setenv("RECEIVER_TEST_DATABASE_URL", "postgresql://x")
    monkeypatch.setenv("RECEIVER_REQUIRE_POSTGRES", "1")
    assert unknown_variables() == [
        "RECEIVER_LOG_LEVLE is not a setting of vocode-receiver; did you mean RECEIVER_LOG_LEVEL?",
        "RECEIVER_TOKEN is not a setting of vocode-receiver; did you mean RECEIVER_TOKENS?",
        "RECEIVER_ZZZ is not a setting of vocode-receiver",
    ]
    assert load_settings().tokens == ()


def test_strict_settings_make_an_unknown_variable_an_error(monkeypatch) -> None:
    """With RECEIVER_STRICT_SETTINGS=true an unknown variable stops the settings from loading."""
    monkeypatch.setenv("RECEIVER_STRICT_SETTINGS", "true")
    monkeypatch.setenv("RECEIVER_TOKEN", LONG)
    with pytest.raises(SettingsError, match="did you mean RECEIVER_TOKENS"):
        load_settings()
    monkeypatch.delenv("RECEIVER_TOKEN")
    assert load_settings().strict_settings is True


def test_commands_warn_about_unknown_variables(cli) -> None:
    """A command run with RECEIVER_TOKEN set prints a warning naming RECEIVER_TOKENS and
    still runs; with strict settings it exits 1."""
    result = CliRunner().invoke(
        main, ["handlers", "--json"], env={"RECEIVER_TOKEN": LONG}
    )
    assert result.exit_code == 0
    assert "warning: RECEIVER_TOKEN is not a setting" in result.stderr
    assert "did you mean RECEIVER_TOKENS?" in result.stderr
    strict = cli("handlers", env={"RECEIVER_TOKEN": LONG, "RECEIVER_STRICT_SETTINGS": "1"})
    assert strict.exit_code == 1 and "RECEIVER_TOKEN is not a setting" in strict.output


def test_default_region_is_checked(monkeypatch) -> None:
    """RECEIVER_DEFAULT_REGION takes a region code in any case and refuses an unknown one."""
    monkeypatch.setenv("RECEIVER_DEFAULT_REGION", "gb")
    assert load_settings().default_region == "GB"
    monkeypatch.setenv("RECEIVER_DEFAULT_REGION", "XX")
    with pytest.raises(SettingsError, match="RECEIVER_DEFAULT_REGION: expected a two-letter"):
        load_settings()


def test_a_postgres_url_without_the_driver_names_the_extra(monkeypatch, cli) -> None:
    """Without asyncpg, a postgresql:// URL is an error naming vocode-receiver[postgres]."""
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if it were not installed
    for name in [m for m in sys.modules if m.startswith("receiver.store.postgres")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(DependencyError, match=r"pip install 'vocode-receiver\[postgres\]'"):
        create_store(load_settings(database_url="postgresql://u@127.0.0.1:1/x"))
    result = cli("events", "list", env={"RECEIVER_DATABASE_URL": "postgresql://u@127.0.0.1:1/x"})
    assert result.exit_code == 1 and "vocode-receiver[postgres]" in result.output
    assert "Traceback" not in result.output
