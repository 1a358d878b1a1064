"""How long a failed delivery (or follow-up) waits before it runs again."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: ``delay(n)`` is uniform in
    ``[0, min(cap, base * 2**(n-1))]``.

    Full jitter spreads the retries of many deliveries that failed together (an outage of
    the system a handler calls) instead of sending them back in synchronised waves.
    """

    base: float = 1.0
    cap: float = 600.0

    def ceiling(self, attempt: int) -> float:
        return min(self.cap, self.base * 2.0 ** max(0, attempt - 1))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        return float((rng or random).uniform(0, self.ceiling(attempt)))
