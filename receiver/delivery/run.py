"""Running one handler on one event, and turning what happened into an outcome."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Literal

from receiver.delivery.backoff import RetryPolicy
from receiver.delivery.context import HandlerContext
from receiver.delivery.router import HandlerSpec
from receiver.delivery.signals import Drop, Retry
from receiver.events import Event
from receiver.follow_ups.intent import FollowUpRequest

Status = Literal["done", "retry", "dropped", "dead", "skipped"]
MAX_ERROR = 2000


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one run of a handler did: returned, raised Retry/Drop, timed out, or failed."""

    kind: Literal["done", "retry", "dropped", "error", "skipped"]
    error: str | None
    retry_after: float | None
    follow_ups: tuple[FollowUpRequest, ...]
    seconds: float


@dataclass(frozen=True, slots=True)
class Decision:
    """What the store records for a delivery after an attempt."""

    status: Status
    next_attempt_at: float | None
    error: str | None


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR]


async def attempt(
    spec: HandlerSpec, event: Event, ctx: HandlerContext, executor: Executor | None = None
) -> Attempt:
    """Run ``spec`` on ``event`` within its timeout; never raises (except cancellation)."""
    started = time.perf_counter()

    def done(kind, error=None, after=None) -> Attempt:  # type: ignore[no-untyped-def]
        follow_ups = tuple(ctx.follow_ups) if kind == "done" else ()
        return Attempt(kind, error, after, follow_ups, time.perf_counter() - started)

    try:
        if spec.when is not None and not spec.when(event):
            return done("skipped")
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
        return done("retry", exc.reason, exc.after)
    except Drop as exc:
        return done("dropped", exc.reason)
    except TimeoutError:
        return done("error", f"TimeoutError: the handler ran longer than {spec.timeout} s")
    except Exception as exc:
        return done("error", describe(exc))
    return done("done")


def decide(spec: HandlerSpec, attempt_no: int, result: Attempt, policy: RetryPolicy) -> Decision:
    """Map an attempt to the delivery's next state, honouring ``max_attempts``."""
    if result.kind in ("done", "dropped", "skipped"):
        status: Status = "done" if result.kind == "done" else result.kind
        return Decision(status, None, result.error)
    if attempt_no >= spec.max_attempts:
        return Decision("dead", None, result.error)
    delay = result.retry_after if result.retry_after is not None else policy.delay(attempt_no)
    return Decision("retry", time.time() + max(0.0, delay), result.error)
