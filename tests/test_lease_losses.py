"""Lost leases are counted (receiver_lease_losses_total{kind}) where they are found: the
recorder of delivery outcomes and the follow-up sender."""

from __future__ import annotations

import time

import structlog
from prometheus_client import CollectorRegistry

from receiver.delivery.recorder import Recorder
from receiver.delivery.run import Outcome
from receiver.follow_ups.guards import FollowUpGuards
from receiver.follow_ups.intent import FollowUpRequest
from receiver.follow_ups.sender import Sender
from receiver.metrics import Metrics
from receiver.store.records import Finish, NewEvent
from receiver.vocode.client import VocodeClient


def losses(metrics: Metrics, kind: str) -> float:
    return metrics.lease_losses.labels(kind)._value.get()


async def _claimed_twice(store):
    envelope = '{"type":"event_message","call_id":"c1","payload":{}}'
    await store.add_event(
        NewEvent("evt_1", "k1", "event_message", "c1", time.time(), "POST", "{}", envelope,
                 b"{}", ("t.h",))
    )  # fmt: skip
    [first] = await store.claim({"t.h": 1}, frozenset(), {"t.h": -1.0})  # lease already over
    [second] = await store.claim({"t.h": 1}, frozenset(), {"t.h": 60.0})
    return first, second


async def test_a_late_delivery_outcome_counts_a_lost_lease(store) -> None:
    """An attempt whose lease was taken over is not recorded: counted as a lost delivery lease
    and logged as lease_lost; the current attempt's outcome is recorded and not counted."""
    metrics = Metrics(CollectorRegistry(), process_metrics=False)
    recorder = Recorder(store, metrics)
    first, second = await _claimed_twice(store)
    with structlog.testing.capture_logs() as logs:
        recorder.add(first, Outcome("done", None, None), None)
        await recorder.drain()
        assert losses(metrics, "delivery") == 1
        recorder.add(second, Outcome("done", None, None), None)
        await recorder.drain()
    assert losses(metrics, "delivery") == 1 and losses(metrics, "follow_up") == 0
    outcomes = [e["outcome"] for e in logs if e["event"] == "delivery_finished"]
    assert outcomes == ["lease_lost", "done"]


async def test_a_late_send_outcome_counts_a_lost_lease(store, settings) -> None:
    """A sender whose intent was claimed again by another counts a lost follow_up lease."""
    metrics = Metrics(CollectorRegistry(), process_metrics=False)
    _, second = await _claimed_twice(store)
    asked = FollowUpRequest(
        "evt_1/t.h/1", "c1", "+15555550123", "+15555550199", "a", {}, time.time(), {}
    )
    assert await store.finish(Finish(second.id, second.attempt, "done", follow_ups=(asked,)))
    [stale] = (await store.claim_follow_ups(1, -1.0, FollowUpGuards())).claimed
    [current] = (await store.claim_follow_ups(1, 60.0, FollowUpGuards())).claimed
    async with VocodeClient("k", base_url="http://127.0.0.1:9") as client:
        sender = Sender(store, client, settings, metrics=metrics)
        await sender._complete(stale, "created", vocode_call_id="v1")
        assert losses(metrics, "follow_up") == 1
        await sender._complete(current, "created", vocode_call_id="v1")
    assert losses(metrics, "follow_up") == 1
    assert (await store.get_follow_up(asked.key)).status == "created"
