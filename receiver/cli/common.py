"""What every command shares: settings with a readable failure, and an opened store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import click

from receiver.errors import ReceiverError
from receiver.settings import Settings, load_settings
from receiver.store import Store, create_store

T = TypeVar("T")


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ReceiverError as exc:
        raise click.ClickException(str(exc)) from None


@contextlib.asynccontextmanager
async def opened_store(settings: Settings) -> AsyncIterator[Store]:
    store = create_store(settings)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def run_with_store(fn: Callable[[Store], Awaitable[T]]) -> T:
    """Open the configured store, run ``fn`` on it, close it; errors become one clean line."""
    settings = settings_or_exit()

    async def main() -> T:
        async with opened_store(settings) as store:
            return await fn(store)

    try:
        return asyncio.run(main())
    except ReceiverError as exc:
        raise click.ClickException(str(exc)) from None
