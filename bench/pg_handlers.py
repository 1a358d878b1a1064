"""The handler of the PostgreSQL-beside-SQLite dispatch benchmark: does nothing, in order.

Loaded by ``receiver worker`` processes as ``RECEIVER_HANDLERS=bench.pg_handlers:router``.
"""

from __future__ import annotations

from typing import Any

from receiver import Router

router = Router("bench")


@router.on("*")
async def noop(event: Any, ctx: Any) -> None:
    """Ordered (the default), so every claim also checks each call's order."""
