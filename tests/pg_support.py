"""PostgreSQL for the tests: one fresh database per session, one fresh schema per test.

The server comes from ``RECEIVER_TEST_DATABASE_URL`` (``.ci/run`` sets it). Without it, or
when the server cannot be reached, the PostgreSQL tests are skipped and the summary says
why; with ``RECEIVER_REQUIRE_POSTGRES=1`` (CI) they fail instead. Loaded by ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

URL_VARIABLE = "RECEIVER_TEST_DATABASE_URL"
REQUIRE_VARIABLE = "RECEIVER_REQUIRE_POSTGRES"
_why_skipped: list[str] = []


def with_database(url: str, name: str, **query: str) -> str:
    """``url`` pointing at database ``name``, with ``query`` as its query string."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}", query=urlencode(query)))


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"PostgreSQL is required ({REQUIRE_VARIABLE}=1) but {reason}", pytrace=False)
    if not _why_skipped:
        _why_skipped.append(reason)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of a database created for this test session (dropped at its end)."""
    server = os.environ.get(URL_VARIABLE)
    if not server:
        _unavailable(f"{URL_VARIABLE} is not set")
        return
    name = f"receiver_test_{secrets.token_hex(4)}"
    try:
        asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        host = urlsplit(server).hostname
        _unavailable(f"cannot create a database on {host} ({type(exc).__name__}: {exc})")
        return
    yield with_database(server, name)
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def pg_url(pg_database: str) -> AsyncIterator[str]:
    """A URL whose tables live in a schema of their own, dropped after the test."""
    schema = f"t_{secrets.token_hex(6)}"
    await _admin(pg_database, f'CREATE SCHEMA "{schema}"')
    yield with_database(pg_database, urlsplit(pg_database).path.lstrip("/"), search_path=schema)
    await _admin(pg_database, f'DROP SCHEMA "{schema}" CASCADE')


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _why_skipped:
        terminalreporter.write_sep("=", "PostgreSQL tests were skipped", yellow=True)
        terminalreporter.write_line(
            f"Why: {_why_skipped[0]}. Set {URL_VARIABLE}=postgresql://USER@HOST:PORT/DATABASE "
            "(a server where that user may create databases) to run them; CI always does.",
            yellow=True,
        )
