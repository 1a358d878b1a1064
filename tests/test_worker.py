"""The dispatcher in one process: isolation, retries, outcomes, order, wake-up, shutdown."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from receiver import Drop, Retry, Router
from receiver.delivery.context import HandlerContext
from receiver.delivery.registry import Registry
from receiver.store.records import DeliveryFilter, Finish
from receiver.testing import sample

AGENT_ID = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"  # a Vocode agent id is a uuid

FAST = dict(poll_interval_seconds=0.05, retry_base_seconds=0.01, retry_cap_seconds=0.05)


class Harness:
    """A started app with a registry of test handlers, posting through the real endpoint."""

    def __init__(self, app: Starlette, hook: str) -> None:
        self.app = app
        self.store = app.state.services.store
        self.hook = hook
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://receiver.test"
        )

    async def post(self, event_type: str = "event_message", call_id: str = "call-1", **fields):
        body = sample(event_type)
        body["call_id"] = call_id
        body["payload"].update(fields)
        response = await self.client.post(self.hook, json=body)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    async def deliveries(self, **where: Any):
        return await self.store.list_deliveries(DeliveryFilter(**where))

    async def settle_rows(self, done: Callable[[list], bool], timeout: float = 10.0) -> list:
        """Wait until the delivery rows satisfy ``done`` (a bound, not a measurement)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.deliveries()
            if rows and done(rows):
                return rows
            if time.monotonic() > deadline:
                states = [(r.handler, r.status, r.attempts) for r in rows]
                raise AssertionError(f"deliveries not settled: {states}")
            await asyncio.sleep(0.02)

    async def settle_status(self, *statuses: str, timeout: float = 10.0) -> list:
        return await self.settle_rows(lambda rs: all(r.status in statuses for r in rs), timeout)


@pytest.fixture
def harness(start_app, settings_factory, hook) -> Callable[..., Awaitable[Harness]]:
    """``await make(router, **settings) -> Harness`` running a worker for ``router``."""

    async def make(*routers: Router, **overrides: Any) -> Harness:
        settings = settings_factory(**{**FAST, **overrides})
        app = await start_app(settings, registry=Registry(list(routers)))
        return Harness(app, hook)

    return make


async def test_one_handlers_failure_never_reruns_another(harness) -> None:
    """Handler A failing until dead does not run handler B again: one delivery each."""
    router = Router("t")
    runs = {"a": 0, "b": 0}

    @router.on("event_message", max_attempts=3)
    async def a(event, ctx) -> None:
        runs["a"] += 1
        raise RuntimeError("crm is down")

    @router.on("event_message")
    async def b(event, ctx) -> None:
        runs["b"] += 1

    h = await harness(router)
    await h.post()
    rows = {r.handler: r for r in await h.settle_status("done", "dead")}
    assert runs == {"a": 3, "b": 1}
    assert rows["t.a"].status == "dead" and rows["t.a"].attempts == 3
    assert rows["t.a"].last_error == "RuntimeError: crm is down"
    assert rows["t.b"].status == "done" and rows["t.b"].attempts == 1


async def test_retry_after_and_drop(harness) -> None:
    """Retry(after=...) schedules the next attempt that far ahead; Drop ends it as dropped."""
    router = Router("t")

    @router.on("event_message")
    async def later(event, ctx) -> None:
        raise Retry(after=3600, reason="recording not ready")

    @router.on("event_message")
    async def never(event, ctx) -> None:
        raise Drop("not for us")

    h = await harness(router)
    before = time.time()
    await h.post()
    rows = await h.settle_rows(
        lambda rs: all(r.attempts == 1 and r.status != "running" for r in rs)
    )
    rows = {r.handler: r for r in rows}
    assert rows["t.never"].status == "dropped" and rows["t.never"].last_error == "not for us"
    assert rows["t.later"].status == "pending"
    assert rows["t.later"].last_error == "recording not ready"
    assert rows["t.later"].next_attempt_at >= before + 3600


async def test_timeout_is_a_failed_attempt(harness) -> None:
    """A handler running past its timeout is cancelled and the attempt counts as failed."""
    router = Router("t")

    @router.on("event_message", timeout=0.05, max_attempts=1)
    async def stuck(event, ctx) -> None:
        await asyncio.sleep(30)

    h = await harness(router)
    await h.post()
    [row] = await h.settle_status("dead")
    assert row.last_error.startswith("TimeoutError")


async def test_sync_handlers_run_in_a_thread(harness) -> None:
    """A plain `def` handler runs off the event loop's thread."""
    router = Router("t")
    threads: list[str] = []

    @router.on("event_message")
    def blocking(event, ctx) -> None:
        threads.append(threading.current_thread().name)

    h = await harness(router)
    await h.post()
    await h.settle_status("done")
    assert threads and threads[0] != threading.current_thread().name


async def test_per_call_order_while_calls_run_in_parallel(harness) -> None:
    """Each call's events reach an ordered handler one at a time in arrival order."""
    router = Router("t")
    seen: dict[str, list[int]] = {}
    active = {"now": 0, "max": 0}

    @router.on("event_message")
    async def ordered(event, ctx) -> None:
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(random.uniform(0, 0.01))
        seen.setdefault(event.call_id, []).append(int(event.payload.timestamp))
        active["now"] -= 1

    h = await harness(router)
    posted: dict[str, list[int]] = {}
    for n in range(10):
        for c in range(15):
            call = f"call-{c}"
            await h.post(call_id=call, timestamp=n, text=f"{call}-{n}")
            posted.setdefault(call, []).append(n)
    await h.settle_status("done", timeout=30)
    assert seen == posted
    assert active["max"] > 1  # different calls did run at the same time


async def test_worker_concurrency_bounds_all_handlers_together(harness) -> None:
    """RECEIVER_WORKER_CONCURRENCY caps the handlers running at once, across handlers."""
    router = Router("t")
    active = {"now": 0, "max": 0}

    async def run() -> None:
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(0.05)
        active["now"] -= 1

    @router.on("event_message", ordered=False)
    async def a(event, ctx) -> None:
        await run()

    @router.on("event_message", ordered=False)
    async def b(event, ctx) -> None:
        await run()

    h = await harness(router, worker_concurrency=3)
    for n in range(6):  # two deliveries each, posted faster than they run
        await h.post(call_id=f"call-{n}")
    await h.settle_status("done")
    assert active["max"] == 3


async def test_a_dead_delivery_unblocks_its_call(harness) -> None:
    """After the first event of a call is dead, the next one of that call runs."""
    router = Router("t")
    ran: list[str] = []

    @router.on("event_message", max_attempts=2)
    async def picky(event, ctx) -> None:
        ran.append(event.payload.text)
        if event.payload.text == "poison":
            raise ValueError("cannot parse")

    h = await harness(router)
    await h.post(text="poison")
    await h.post(text="fine")
    rows = await h.settle_status("done", "dead")
    assert sorted(r.status for r in rows) == ["dead", "done"]
    assert ran == ["poison", "poison", "fine"]


async def test_intake_wakes_an_idle_worker(harness) -> None:
    """A new event reaches an idle worker without waiting for the (here 60 s) poll."""
    router = Router("t")
    ran = asyncio.Event()

    @router.on("event_message")
    async def quick(event, ctx) -> None:
        ran.set()

    h = await harness(router, poll_interval_seconds=60)
    await asyncio.sleep(0.1)  # the worker is idle, waiting on its poll
    await h.post()
    await asyncio.wait_for(ran.wait(), 10)


async def test_when_predicate_limits_deliveries(harness) -> None:
    """Only events for which `when` holds get a delivery row."""
    router = Router("t")

    @router.on("event_message", when=lambda e: e.payload.sender == "human")
    async def humans(event, ctx) -> None: ...

    h = await harness(router)
    await h.post(sender="bot", text="a")
    await h.post(sender="human", text="b")
    rows = await h.settle_status("done")
    assert len(rows) == 1


async def test_follow_ups_are_recorded_once_with_success_only(harness, read_rows) -> None:
    """A follow-up asked for in a failed attempt is not kept; a retried success records it once."""
    router = Router("t")

    @router.on("event_phone_call_did_not_connect", max_attempts=3)
    async def call_back(event, ctx) -> None:
        await ctx.follow_up(to_number="+15555550123", from_number="+15555550199", agent=AGENT_ID)
        if ctx.attempt == 1:
            raise RuntimeError("flaky")

    h = await harness(router)
    event_id = await h.post("event_phone_call_did_not_connect")
    [row] = await h.settle_status("done")
    assert row.attempts == 2
    rows = read_rows("SELECT key, status FROM follow_ups")
    assert rows == [(f"{event_id}/t.call_back/1", "pending")]
    # an operator replays the done delivery: the handler asks again, nothing new is recorded
    await h.store.requeue([row.id])
    await h.settle_status("done")
    assert read_rows("SELECT count(*) FROM follow_ups") == [(1,)]


async def test_stale_finish_is_refused(store) -> None:
    """A worker whose lease was taken over cannot mark the delivery done (fencing)."""
    from receiver.store.records import NewEvent

    await store.add_event(
        NewEvent(
            "evt_1",
            "k1",
            "event_message",
            "c1",
            time.time(),
            "POST",
            "{}",
            '{"type":"event_message","call_id":"c1","payload":{}}',
            b"{}",
            ("t.h",),
        )
    )
    [first] = await store.claim({"t.h": 1}, frozenset(), {"t.h": -1.0})  # lease already over
    [second] = await store.claim({"t.h": 1}, frozenset(), {"t.h": 60.0})
    assert (first.attempt, second.attempt) == (1, 2)
    assert await store.finish(Finish(first.id, first.attempt, "done")) is False
    assert await store.finish(Finish(second.id, second.attempt, "done")) is True
    assert await store.finish(Finish(second.id, second.attempt, "done")) is False


async def test_shutdown_drains_running_handlers(harness, start_app) -> None:
    """On stop, a handler that finishes within the grace period is recorded done."""
    router = Router("t")
    started = asyncio.Event()

    @router.on("event_message")
    async def slowish(event, ctx) -> None:
        started.set()
        await asyncio.sleep(0.3)

    h = await harness(router, shutdown_grace_seconds=10)
    await h.post()
    await started.wait()
    await h.app.state.services.worker.stop()
    [row] = await h.deliveries()
    assert row.status == "done"


async def test_shutdown_releases_what_outlives_the_grace(harness) -> None:
    """A handler still running after the grace period is cancelled and its delivery released."""
    router = Router("t")
    started = asyncio.Event()

    @router.on("event_message", timeout=60)
    async def endless(event, ctx) -> None:
        started.set()
        await asyncio.sleep(60)

    h = await harness(router, shutdown_grace_seconds=0.1)
    await h.post()
    await started.wait()
    await h.app.state.services.worker.stop()
    [row] = await h.deliveries()
    assert (row.status, row.attempts, row.lease_until) == ("pending", 0, None)


async def test_replay_without_side_effects_suppresses_follow_ups(harness, read_rows) -> None:
    """A delivery replayed with side effects off records its follow-ups as suppressed."""
    router = Router("t")
    healthy = {"now": False}

    @router.on("event_phone_call_did_not_connect", max_attempts=1)
    async def call_back(event, ctx) -> None:
        await ctx.follow_up(to_number="+15555550123", from_number="+15555550199", agent=AGENT_ID)
        if not healthy["now"]:
            raise RuntimeError("agent service down")

    h = await harness(router)
    await h.post("event_phone_call_did_not_connect")
    [row] = await h.settle_status("dead")
    assert read_rows("SELECT count(*) FROM follow_ups") == [(0,)]
    healthy["now"] = True
    await h.store.requeue([row.id], side_effects=False)
    await h.settle_status("done")
    assert read_rows("SELECT status FROM follow_ups") == [("suppressed",)]


async def test_readyz_reports_stopped_workers(harness) -> None:
    """/readyz answers 503 "workers not running" once the worker has stopped."""
    router = Router("t")

    @router.on("event_message")
    async def noop(event, ctx) -> None: ...

    h = await harness(router)
    assert (await h.client.get("/readyz")).status_code == 200
    await h.app.state.services.worker.stop()
    response = await h.client.get("/readyz")
    assert response.status_code == 503 and response.json()["reason"] == "workers not running"


async def test_when_decided_at_delivery_is_skipped_and_counted(harness) -> None:
    """A `when` that failed at intake is decided again at delivery: false → skipped, counted."""
    router = Router("t")
    calls = {"n": 0}

    def flaky_when(event) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("feature flags unavailable")
        return False

    @router.on("event_message", when=flaky_when)
    async def gated(event, ctx) -> None:
        raise AssertionError("must not run")

    h = await harness(router)
    await h.post()
    await h.settle_status("skipped")
    sample = h.app.state.services.metrics.registry.get_sample_value
    assert sample("receiver_deliveries_total", {"handler": "t.gated", "outcome": "skipped"}) == 1


def test_notes_cannot_take_the_names_of_the_delivery_line() -> None:
    """ctx.annotate refuses a field delivery_finished already has, and keeps the others."""
    ctx = HandlerContext(event_id="evt_1", call_id="c", handler="h", attempt=1)
    with pytest.raises(ValueError, match="outcome"):
        ctx.annotate(outcome="fine", kept=1)
    assert ctx.notes == {}
    ctx.annotate(kept=1)
    ctx.annotate(kept=2, other="x")
    assert ctx.notes == {"kept": 2, "other": "x"}
