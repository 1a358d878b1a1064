"""Shared fixtures: settings, a started app and its in-process client, samples, a free port.

Every fixture here is generic; add to it with small edits. Tests never read the developer's
``RECEIVER_*`` environment: :func:`_isolated_settings_env` clears every variable that names a
setting (others, such as ``RECEIVER_TEST_DATABASE_URL``, are left alone).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from starlette.applications import Starlette

from receiver.app import create_app
from receiver.cli import main as cli_main
from receiver.metrics import Metrics
from receiver.settings import Settings, load_settings
from receiver.store.sqlite.store import SQLiteStore

TOKEN = "test-token-0123456789abcdef"  # the token every default settings object accepts
SAMPLES = resources.files("receiver") / "samples"  # copies of shared/vocode/payloads
EVENT_SAMPLES = sorted(p.name for p in SAMPLES.iterdir() if p.name.startswith("event_"))
pytest_plugins = ["pg_support"]  # pg_database, pg_url: PostgreSQL (RECEIVER_TEST_DATABASE_URL)


@pytest.fixture(autouse=True)
def _isolated_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every ``RECEIVER_<SETTING>`` variable so that only a test's own values count."""
    for name in Settings.model_fields:
        monkeypatch.delenv(f"RECEIVER_{name.upper()}", raising=False)


@pytest.fixture
def token() -> str:
    """The valid webhook token of :func:`settings_factory`'s defaults."""
    return TOKEN


@pytest.fixture
def hook(token: str) -> str:
    """The webhook path with the valid token in it: ``/webhooks/vocode/<token>``."""
    return f"/webhooks/vocode/{token}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh SQLite file for this test (not yet created)."""
    return tmp_path / "receiver.db"


@pytest.fixture
def settings_factory(token: str, db_path: Path) -> Callable[..., Settings]:
    """``make(**overrides) -> Settings``: the valid token, this test's SQLite file, overrides.

    Goes through :func:`load_settings`, so a bad override raises ``SettingsError``.
    """

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"tokens": token, "database_url": f"sqlite:///{db_path}"}
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    """Default settings: one token, this test's SQLite file, everything else at its default."""
    return settings_factory()


@pytest.fixture
async def start_app() -> AsyncIterator[Callable[..., Awaitable[Starlette]]]:
    """``await start(settings, **create_app_kwargs) -> app`` with its lifespan entered.

    ``httpx.ASGITransport`` does not run the lifespan, so this does; every app started is shut
    down (store closed) when the test ends. Each app gets a fresh metrics registry.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def start(settings: Settings, **kwargs: Any) -> Starlette:
            kwargs.setdefault("metrics", Metrics())
            app = create_app(settings, **kwargs)
            await stack.enter_async_context(app.router.lifespan_context(app))
            return app

        yield start


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[[Starlette], Awaitable[httpx.AsyncClient]]]:
    """``await client_for(app) -> client``: an in-process HTTP client, closed at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(app: Starlette) -> httpx.AsyncClient:
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://receiver.test"
            )
            return await stack.enter_async_context(client)

        yield make


@pytest.fixture
def client_factory(
    start_app: Callable[..., Awaitable[Starlette]],
    client_for: Callable[[Starlette], Awaitable[httpx.AsyncClient]],
) -> Callable[..., Awaitable[httpx.AsyncClient]]:
    """``await make(settings, **create_app_kwargs) -> client`` for a freshly started app.

    Use :func:`start_app` and :func:`client_for` when the test needs the app object too.
    """

    async def make(settings: Settings, **kwargs: Any) -> httpx.AsyncClient:
        return await client_for(await start_app(settings, **kwargs))

    return make


@pytest.fixture
async def app(start_app: Callable[..., Awaitable[Starlette]], settings: Settings) -> Starlette:
    """The service built from :func:`settings`, started."""
    return await start_app(settings)


@pytest.fixture
async def client(
    app: Starlette, client_for: Callable[[Starlette], Awaitable[httpx.AsyncClient]]
) -> httpx.AsyncClient:
    """An in-process HTTP client for :func:`app`."""
    return await client_for(app)


@pytest.fixture
def sample_bytes() -> Callable[[str], bytes]:
    """``load(name) -> bytes``: a sample file (``event_message`` or ``event_message.json``)."""

    def load(name: str) -> bytes:
        filename = name if name.endswith(".json") else f"{name}.json"
        return (SAMPLES / filename).read_bytes()

    return load


@pytest.fixture
def sample(sample_bytes: Callable[[str], bytes]) -> Callable[[str], Any]:
    """``load(name) -> dict``: a sample file, decoded."""
    return lambda name: json.loads(sample_bytes(name))


@pytest.fixture(params=EVENT_SAMPLES, ids=lambda name: name.removesuffix(".json"))
def event_sample(request: pytest.FixtureRequest) -> tuple[str, bytes]:
    """Parametrises a test over every ``event_*.json`` sample: ``(file name, bytes)``."""
    return request.param, (SAMPLES / request.param).read_bytes()


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    """An opened (migrated) SQLite store on this test's file; closed at the end."""
    opened = SQLiteStore(str(db_path))
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def cli(token: str, db_path: Path) -> Callable[..., Result]:
    """``invoke(*args, env=None) -> Result``: run ``receiver ...`` in-process with CliRunner.

    ``RECEIVER_DATABASE_URL`` points at this test's file and ``RECEIVER_TOKENS`` holds the
    valid token unless ``env`` says otherwise (a value of None removes the variable).
    """

    def invoke(*args: str, env: dict[str, str | None] | None = None) -> Result:
        values: dict[str, str | None] = {
            "RECEIVER_DATABASE_URL": f"sqlite:///{db_path}",
            "RECEIVER_TOKENS": token,
            "COLUMNS": "200",  # rich tables: wide enough that no id is cut
        }
        values.update(env or {})
        return CliRunner().invoke(cli_main, list(args), env=values, catch_exceptions=False)

    return invoke


@pytest.fixture
def read_rows(db_path: Path) -> Iterator[Callable[[str], list[Any]]]:
    """``query(sql) -> rows`` on a new sqlite3 connection: what another process would see."""
    import sqlite3

    conns: list[sqlite3.Connection] = []

    def query(sql: str) -> list[Any]:
        conn = sqlite3.connect(db_path)
        conns.append(conn)
        return conn.execute(sql).fetchall()

    yield query
    for conn in conns:
        conn.close()


@pytest.fixture(scope="session")
def promtool() -> str:
    """The path of promtool, installing Debian's prometheus package first if needed."""
    found = shutil.which("promtool")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"],
    )
    for step in steps:
        try:
            done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"promtool is missing and `{' '.join(step)}` could not run: {exc}")
        if done.returncode != 0:
            pytest.fail(
                f"promtool is missing and `{' '.join(step)}` failed ({done.returncode}); "
                f"install Debian's prometheus package:\n{done.stderr[-2000:]}"
            )
    found = shutil.which("promtool")
    if not found:
        pytest.fail("the prometheus package is installed but promtool is not on PATH")
    return found
