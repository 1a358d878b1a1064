"""The store's claim of one batch, timed, for ``python -m bench scale``.

Each repetition claims as the worker does (``store.claim`` with the worker's free slots, 64 by
default, for one handler) and then finishes the batch as a retry due at once, which puts the
rows back in the backlog: the backlog keeps its size however many repetitions run, and the
finish of a batch is timed too. At the end the rows claimed are requeued (their attempts
counted from 0 again), so that the processes measured next find the backlog as it was loaded.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from bench.scale_load import DEFAULT_HANDLER, ORDERED_HANDLER
from receiver.settings import load_settings
from receiver.store import create_store
from receiver.store.records import Finish

KINDS = {"unordered": DEFAULT_HANDLER, "ordered": ORDERED_HANDLER}
LEASE = 35.0  # a handler's default timeout (30 s) and the lease margin
WARMUP = 5


@dataclass(frozen=True)
class ClaimTiming:
    """Per claim of one kind: milliseconds of the claim, of the finish, deliveries taken."""

    claim_ms: list[float]
    finish_ms: list[float]
    taken: list[int]

    def summary(self) -> dict[str, float]:
        per = [ms * 1000 / n for ms, n in zip(self.claim_ms, self.taken, strict=True) if n]
        return {
            "claim_p50_ms": percentile(self.claim_ms, 50),
            "claim_p99_ms": percentile(self.claim_ms, 99),
            "per_delivery_p50_us": percentile(per, 50) if per else float("nan"),
            "finish_p50_ms": percentile(self.finish_ms, 50),
            "finish_p99_ms": percentile(self.finish_ms, 99),
            "batch": statistics.mean(self.taken),
        }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


async def time_claims(url: str, repeats: int, batch: int) -> dict[str, dict[str, float]]:
    """Per kind (the default, unordered handler; an ordered one), the claim's figures."""
    store = create_store(load_settings(database_url=url))
    await store.open()
    try:
        return {
            kind: (await _time_kind(store, handler, kind == "ordered", repeats, batch)).summary()
            for kind, handler in KINDS.items()
        }
    finally:
        await store.close()


async def _time_kind(
    store: object, handler: str, ordered: bool, repeats: int, batch: int
) -> ClaimTiming:
    claim_ms, finish_ms, taken = [], [], []
    touched: set[int] = set()
    ordered_set = frozenset({handler} if ordered else ())
    for n in range(WARMUP + repeats):
        started = time.perf_counter()
        claimed = await store.claim({handler: batch}, ordered_set, {handler: LEASE}, batch)  # type: ignore[attr-defined]
        claimed_at = time.perf_counter()
        again = time.time()
        await store.finish_many(  # type: ignore[attr-defined]
            [Finish(c.id, c.attempt, "retry", next_attempt_at=again) for c in claimed]
        )
        touched.update(c.id for c in claimed)
        if n >= WARMUP:
            claim_ms.append((claimed_at - started) * 1000)
            finish_ms.append((time.perf_counter() - claimed_at) * 1000)
            taken.append(len(claimed))
    await store.requeue(sorted(touched))  # type: ignore[attr-defined]
    return ClaimTiming(claim_ms, finish_ms, taken)
