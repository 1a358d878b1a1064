"""What every command shares: settings with a readable failure, and an opened store.

Only ``serve``, ``worker`` and ``migrate`` apply schema versions. Every other command opens
the store as it is (:func:`run_with_store`): it creates nothing, and a missing database or
one at another schema version is a clear error and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import asdict
from typing import Any, TypeVar

import click
import structlog

from receiver.errors import ReceiverError
from receiver.settings import Settings, load_settings, unknown_variables
from receiver.store import Store, create_store
from receiver.store.schema import check_current
from receiver.times import iso

T = TypeVar("T")


def when(ts: float | None) -> str | None:
    """``ts`` as ISO 8601 in UTC, to the second (None for None): the commands' times."""
    return None if ts is None else iso(ts, "seconds")


def record_json(record: Any, times: Iterable[str]) -> dict[str, Any]:
    """A record (a dataclass) as a JSON object, the fields named in ``times`` as :func:`when`."""
    out = asdict(record)
    for key in times:
        out[key] = when(out[key])
    return out


def settings_or_exit(*, warn: bool = True) -> Settings:
    """The settings, or exit 1 with what is wrong. With ``warn``, unknown ``RECEIVER_*``
    variables are reported on standard error (``serve`` and ``worker`` log them instead)."""
    try:
        settings = load_settings()
    except ReceiverError as exc:
        raise click.ClickException(str(exc)) from None
    if warn:
        for line in unknown_variables():
            click.echo(f"warning: {line}", err=True)
    return settings


@contextlib.asynccontextmanager
async def opened_store(
    settings: Settings, *, read_only: bool = True, migrate: bool = False
) -> AsyncIterator[Store]:
    store = create_store(settings)
    await store.open(migrate=migrate, read_only=read_only)
    try:
        yield store
    finally:
        await store.close()


def run_with_store(
    fn: Callable[[Store], Awaitable[T]],
    *,
    read_only: bool = True,
    settings: Settings | None = None,
) -> T:
    """Open the configured store without migrating it (read-only unless ``read_only`` is
    False), run ``fn`` on it, close it; errors become one clean line and exit 1. ``settings``:
    those already read, when the command needs them too."""
    settings = settings if settings is not None else settings_or_exit()

    async def main() -> T:
        async with opened_store(settings, read_only=read_only) as store:
            check_current(await store.schema_state())
            return await fn(store)

    try:
        return asyncio.run(main())
    except ReceiverError as exc:
        raise click.ClickException(str(exc)) from None


@contextlib.contextmanager
def command_logs(settings: Settings) -> Iterator[None]:
    """While a short command runs, log lines go to stderr at ``RECEIVER_LOG_LEVEL`` (not
    structlog's default: every level, to stdout, mixed with the command's output)."""
    previous = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(settings.log_level)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**previous)
