"""The handler of ``python -m bench scale``'s intake runs: a no-op, unordered.

Loaded as ``RECEIVER_HANDLERS=bench.scale_handlers:router``: it is not one of the backlog's
handlers, so the worker of that ``receiver serve`` runs the new events' deliveries only and
intake is measured beside a backlog that stays the size it was.
"""

from __future__ import annotations

from typing import Any

from receiver import Router

router = Router("scale")


@router.on("*", ordered=False)
async def intake(event: Any, ctx: Any) -> None:
    """Nothing: what intake costs is the point."""
