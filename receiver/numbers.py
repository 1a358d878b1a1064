"""Phone numbers as the guards compare them."""

from __future__ import annotations

import re

_NOISE = re.compile(r"[\s().\-]")


def normalise_number(number: str) -> str:
    """Drop spaces, dots, dashes and parentheses: ``+1 (555) 555-0123`` → ``+15555550123``."""
    return _NOISE.sub("", number.strip())
