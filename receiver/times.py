"""Times as operators write them: ``2h`` / ``30m`` / ``7d`` ago, or an ISO 8601 time.

Example::

    parse_when("2h")                 # two hours ago, in epoch seconds
    parse_when("2026-11-26T10:00")   # UTC when no offset is given
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EXAMPLES = "e.g. 2h, 30m, 7d or 2026-11-26T10:00"


def parse_when(value: str, *, now: float | None = None) -> float:
    """Epoch seconds of ``value``; raises ``ValueError`` naming the forms accepted."""
    value = value.strip()
    if match := _RELATIVE.match(value):
        return (time.time() if now is None else now) - float(match[1]) * _UNITS[match[2]]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r}: expected {EXAMPLES}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def iso(ts: float | None, timespec: str = "milliseconds") -> str:
    """``ts`` as ISO 8601 in UTC (``""`` for None)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec=timespec)


def clock(ts: float | None) -> str:
    """``ts`` as ``2026-11-26 10:00:00.123`` (UTC), for pages (``""`` for None)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
