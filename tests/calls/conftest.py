"""Fixtures of the calls tests: the fake Vocode API on a free port, and the whole service in
this process (intake, worker, sender, reconciler) pointed at it, posting through the real
endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from receiver import Router
from receiver.delivery.registry import Registry
from receiver.metrics import Metrics
from receiver.store.call_records import CallRecord
from receiver.store.records import DeliveryFilter
from receiver.vocode.fake import FakeVocode
from receiver.vocode.fake.play import PlayRequest, plan_play

API_KEY = "calls-test-key-0123456789"
AGENT = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"
FAST = dict(
    poll_interval_seconds=0.05,
    retry_base_seconds=0.01,
    retry_cap_seconds=0.05,
    reconcile_after_seconds=0.2,
    follow_up_rate_per_second=100,
)


@pytest.fixture
def fake() -> Iterator[FakeVocode]:
    """The fake Vocode API for this test."""
    with FakeVocode(api_key=API_KEY) as server:
        yield server


class Service:
    """A started service and what a test reads of it."""

    def __init__(self, app: Starlette, hook: str, fake: FakeVocode, metrics: Metrics) -> None:
        self.app = app
        self.services = app.state.services
        self.store = self.services.store
        self.hook = hook
        self.fake = fake
        self.metrics = metrics
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://receiver.test"
        )

    async def post(self, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(self.hook, json=body)

    async def play(self, **request: Any) -> tuple[str, list[dict[str, Any]]]:
        """Play a call as the fake would (its state ends as the call did) and post its events
        here; answer the call id and the bodies dropped."""
        played = PlayRequest(url="http://unused", **request)
        call_id, posted, dropped = plan_play(self.fake.state, played)
        for body in posted:
            response = await self.post(body)
            assert response.status_code == 202, response.text
        return call_id, dropped

    async def call_when(
        self, call_id: str, done: Callable[[CallRecord], bool], timeout: float = 15.0
    ) -> CallRecord:
        """Wait until the call's record satisfies ``done`` (a bound, not a measurement)."""
        deadline = time.monotonic() + timeout
        while True:
            call = await self.store.get_call(call_id)
            if call is not None and done(call):
                return call
            assert time.monotonic() < deadline, f"call {call_id} not settled: {call}"
            await asyncio.sleep(0.02)

    async def settled(self, timeout: float = 15.0) -> list[Any]:
        """Wait until no delivery is pending or running."""
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.store.list_deliveries(DeliveryFilter())
            if rows and all(r.status not in ("pending", "running") for r in rows):
                return rows
            assert time.monotonic() < deadline, [(r.handler, r.status) for r in rows]
            await asyncio.sleep(0.02)

    def value(self, name: str, **labels: str) -> float:
        found = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found


@pytest.fixture
async def service(
    start_app, settings_factory, hook, fake
) -> AsyncIterator[Callable[..., Awaitable[Service]]]:
    """``await make(*routers, **settings) -> Service`` with the fake as its Vocode API."""
    made: list[Service] = []

    async def make(*routers: Router, **overrides: Any) -> Service:
        values = {**FAST, "vocode_api_key": API_KEY, "vocode_base_url": fake.url, **overrides}
        metrics = Metrics()
        app = await start_app(
            settings_factory(**values), registry=Registry(list(routers)), metrics=metrics
        )
        made.append(Service(app, hook, fake, metrics))
        return made[-1]

    yield make
    for one in made:
        await one.client.aclose()
