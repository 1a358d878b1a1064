"""Running one handler on one event, and the outcome its run leads to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Literal

from receiver.backoff import Backoff
from receiver.delivery.context import HandlerContext
from receiver.delivery.router import HandlerSpec
from receiver.delivery.signals import Drop, Retry
from receiver.events import Event
from receiver.follow_ups.intent import FollowUpRequest
from receiver.store.records import FinishStatus

MAX_ERROR = 2000


@dataclass(frozen=True, slots=True)
class HandlerRun:
    """What one run of a handler did: returned, raised Retry/Drop, timed out, or failed."""

    kind: Literal["done", "retry", "dropped", "error", "skipped"]
    error: str | None
    retry_after: float | None
    follow_ups: tuple[FollowUpRequest, ...]
    seconds: float
    notes: Mapping[str, Any] = field(default_factory=dict)  # ctx.annotate's fields


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the store records for a delivery after a run (or instead of one)."""

    status: FinishStatus
    next_attempt_at: float | None
    error: str | None


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR]


async def run_handler(
    spec: HandlerSpec, event: Event, ctx: HandlerContext, executor: Executor | None = None
) -> HandlerRun:
    """Run ``spec`` on ``event`` within its timeout; never raises (except cancellation)."""
    started = time.perf_counter()

    def ran(
        kind: Literal["done", "retry", "dropped", "error", "skipped"],
        error: str | None = None,
        after: float | None = None,
    ) -> HandlerRun:
        follow_ups = tuple(ctx.follow_ups) if kind == "done" else ()
        seconds = time.perf_counter() - started
        return HandlerRun(kind, error, after, follow_ups, seconds, ctx.notes)

    try:
        if spec.when is not None and not spec.when(event):
            return ran("skipped")
        # In this task rather than a task of its own (as wait_for would): no task, future and
        # callbacks per delivery, which on a busy worker cost more than a no-op handler.
        async with asyncio.timeout(spec.timeout):
            if spec.is_async:
                await spec.func(event, ctx)
            else:
                loop = asyncio.get_running_loop()
                call: Callable[[], object] = lambda: spec.func(event, ctx)  # noqa: E731
                await loop.run_in_executor(executor, call)
    except Retry as exc:
        return ran("retry", exc.reason, exc.after)
    except Drop as exc:
        return ran("dropped", exc.reason)
    except TimeoutError:
        return ran("error", f"TimeoutError: the handler ran longer than {spec.timeout} s")
    except Exception as exc:
        return ran("error", describe(exc))
    return ran("done")


def outcome_of(spec: HandlerSpec, attempt: int, run: HandlerRun, backoff: Backoff) -> Outcome:
    """The delivery's next state after ``run``, honouring ``max_attempts``."""
    if run.kind == "done" or run.kind == "dropped" or run.kind == "skipped":
        return Outcome(run.kind, None, run.error)
    if attempt >= spec.max_attempts:
        return Outcome("dead", None, run.error)
    delay = run.retry_after if run.retry_after is not None else backoff.delay(attempt)
    return Outcome("retry", time.time() + max(0.0, delay), run.error)
