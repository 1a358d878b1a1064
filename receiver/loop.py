"""Loops that run beside the app (the worker, the follow-up sender), woken by store commits."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol, TypeVar


class Background(Protocol):
    def start(self) -> None: ...

    def wake(self) -> None: ...

    async def stop(self) -> None: ...


B = TypeVar("B", bound=Background)


@contextlib.asynccontextmanager
async def running(loop: B, store: Any) -> AsyncIterator[B]:
    """Start ``loop``, woken whenever ``store`` commits work for it; stop it on exit."""
    hooks = getattr(store, "on_commit", None)
    if hooks is not None:
        hooks.append(loop.wake)
    loop.start()
    try:
        yield loop
    finally:
        await loop.stop()
        if hooks is not None:
            hooks.remove(loop.wake)
