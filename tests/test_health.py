"""Readiness tells the truth: /readyz fails while the store cannot commit, and recovers.

SQLite on a real full disk: a 2 MiB tmpfs (mounting one needs root, as the CI machine has;
elsewhere the test is skipped and says why). PostgreSQL on a real read-only database (as
after a fail-over to a standby): ``default_transaction_read_only`` set on a database of the
test's own, its connections ended so that the pool opens read-only ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from pg_support import with_database

JSON = {"content-type": "application/json"}


def event(n: int, size: int = 0) -> bytes:
    body = {"type": "event_message", "call_id": f"c-{n}", "payload": {"text": "x" * size}}
    return json.dumps(body).encode()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for this test (root only), unmounted at its end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the CI machine runs tests as root)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte with one file; answer the file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


async def eventually(call, want: int, tries: int = 20):
    """``await call()`` until its status is ``want`` (a store reopening its connections may
    fail a few first); at most ``tries`` times."""
    for _ in range(tries):
        response = await call()
        if response.status_code == want:
            return response
    return response


async def test_full_disk_makes_readyz_fail_and_recover(
    small_disk, settings_factory, start_app, client_for, hook
) -> None:
    """SQLite on a full disk: writes get 503 and /readyz 503; once space is freed, both
    recover, and every event answered 202 is stored."""
    settings = settings_factory(database_url=f"sqlite:///{small_disk / 'receiver.db'}")
    client = await client_for(await start_app(settings))
    accepted = [(await client.post(hook, content=event(0), headers=JSON)).json()["id"]]
    assert (await client.get("/readyz")).status_code == 200

    filler = fill(small_disk)
    answers = [await client.post(hook, content=event(n, 2000), headers=JSON) for n in range(1, 40)]
    accepted += [a.json()["id"] for a in answers if a.status_code == 202]
    assert answers[-1].status_code == 503  # whatever room was left, it is used up by now
    assert {a.status_code for a in answers} <= {202, 503}
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()["reason"]) == (503, "store cannot commit")

    filler.unlink()
    assert (await client.get("/readyz")).status_code == 200
    after = await client.post(hook, content=event(99), headers=JSON)
    assert after.status_code == 202
    accepted.append(after.json()["id"])
    store = client._transport.app.state.services.store  # type: ignore[attr-defined]
    assert {e.id for e in await store.list_events(limit=1000)} >= set(accepted)


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
async def own_database(pg_database: str) -> Iterator[str]:
    """A database of this test's own (its settings change), dropped at the end."""
    name = f"receiver_ro_{secrets.token_hex(4)}"
    await _admin(pg_database, f'CREATE DATABASE "{name}"')
    yield with_database(pg_database, name)
    await _admin(pg_database, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_read_only_postgres_makes_readyz_fail_and_recover(
    own_database, pg_database, settings_factory, start_app, client_for, hook
) -> None:
    """PostgreSQL gone read-only: writes get 503 and /readyz 503; writable again, both
    recover."""
    name = urlsplit(own_database).path.lstrip("/")
    client = await client_for(await start_app(settings_factory(database_url=own_database)))
    assert (await client.post(hook, content=event(0), headers=JSON)).status_code == 202
    assert (await client.get("/readyz")).status_code == 200

    end_sessions = (
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )
    await _admin(
        pg_database, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on', end_sessions
    )
    statuses = [
        (await client.post(hook, content=event(n), headers=JSON)).status_code for n in range(1, 6)
    ]
    assert statuses[-1] == 503 and set(statuses) <= {503}
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()["reason"]) == (503, "store cannot commit")

    await _admin(
        pg_database, f'ALTER DATABASE "{name}" RESET default_transaction_read_only', end_sessions
    )
    # the pool finds its ended connections one failure at a time, as it did above
    assert (await eventually(lambda: client.get("/readyz"), 200)).status_code == 200
    post = lambda: client.post(hook, content=event(99), headers=JSON)  # noqa: E731
    assert (await eventually(post, 202)).status_code == 202
