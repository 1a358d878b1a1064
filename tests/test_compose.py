"""deploy/compose.yaml: the receiver service, its volume, its RECEIVER_* settings, the profiles.

No Docker engine or compose plugin runs on the test machines, so the file is read with PyYAML
and its ``${VAR:-default}`` interpolation resolved here; where ``docker compose`` exists, it
checks the file too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from receiver.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "deploy" / "compose.yaml"
TOKEN = "compose-token-0123456789abcdef"
_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``, for the tests."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        if env.get(name):
            return env[name]
        if op and op.endswith("?"):
            raise LookupError(f"{name}: {arg}")
        return arg if op else ""

    return _VAR.sub(one, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def receiver(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]["receiver"]


def test_receiver_builds_the_repository_image(receiver: dict[str, Any]) -> None:
    """The receiver service builds this repository's Dockerfile and runs `receiver serve`."""
    context = (COMPOSE.parent / receiver["build"]["context"]).resolve()
    assert (context / receiver["build"].get("dockerfile", "Dockerfile")).is_file()
    assert context == REPO
    assert receiver.get("command", ["receiver", "serve"]) == ["receiver", "serve"]
    assert "profiles" not in receiver  # runs with no profile given


def test_sqlite_database_lives_on_a_named_volume(
    compose: dict[str, Any], receiver: dict[str, Any]
) -> None:
    """By default the SQLite file is on the receiver's named volume, so it survives upgrades."""
    mounts = dict(volume.split(":", 1)[::-1] for volume in receiver["volumes"])
    url = interpolate(receiver["environment"]["RECEIVER_DATABASE_URL"], {})
    assert url.startswith("sqlite:////")
    database_dir = str(Path(url.removeprefix("sqlite:///")).parent)
    assert database_dir in mounts, f"{url} is not on a volume ({receiver['volumes']})"
    assert mounts[database_dir] in compose["volumes"]


def test_environment_sets_only_known_valid_settings(
    receiver: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every RECEIVER_* variable in the file is a real setting, and the defaults validate."""
    environment = receiver["environment"]
    unknown = [
        k for k in environment if k.removeprefix("RECEIVER_").lower() not in Settings.model_fields
    ]
    assert not unknown and all(k.startswith("RECEIVER_") for k in environment), unknown
    for key, value in environment.items():
        monkeypatch.setenv(key, interpolate(str(value), {"RECEIVER_TOKENS": TOKEN}))
    settings = load_settings()
    settings.check_serving()
    assert settings.tokens == (TOKEN,) and settings.host == "0.0.0.0"


def test_tokens_are_required(receiver: dict[str, Any]) -> None:
    """`docker compose up` refuses to start without RECEIVER_TOKENS rather than serve openly."""
    with pytest.raises(LookupError, match="RECEIVER_TOKENS"):
        interpolate(receiver["environment"]["RECEIVER_TOKENS"], {})


def test_postgres_runs_only_with_its_profile(
    compose: dict[str, Any], receiver: dict[str, Any]
) -> None:
    """PostgreSQL starts only with --profile postgres; the SQLite receiver never waits for it."""
    postgres = compose["services"]["postgres"]
    assert postgres["profiles"] == ["postgres"]
    assert "healthcheck" in postgres
    assert receiver["depends_on"]["postgres"]["required"] is False
    url = interpolate(receiver["environment"]["RECEIVER_DATABASE_URL"], {
        "RECEIVER_DATABASE_URL": "postgresql://receiver:receiver@postgres:5432/receiver"
    })  # fmt: skip
    assert url.startswith("postgresql://")


def test_docker_compose_accepts_the_file() -> None:
    """`docker compose config` accepts the file with and without the postgres profile."""
    if (
        shutil.which("docker") is None
        or subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
    ):
        pytest.skip("no docker compose plugin here; the PyYAML checks above cover the file")
    env = {"RECEIVER_TOKENS": TOKEN, "PATH": "/usr/bin:/bin:/usr/local/bin"}
    for profile in ([], ["--profile", "postgres"]):
        cmd = ["docker", "compose", "-f", str(COMPOSE), *profile, "config", "--quiet"]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 0, done.stderr
