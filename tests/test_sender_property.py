"""Property: whatever faults the API shows and however often the sender crashes, no intent is
dialled twice and every intent ends created, rejected, held, refused or cancelled."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sender import API_KEY, calls_for, intent, settle

from receiver.follow_ups.sender import Sender
from receiver.metrics import Metrics
from receiver.settings import load_settings
from receiver.store.sqlite.store import SQLiteStore
from receiver.vocode.fake import FakeVocode, Fault

FAULTS = st.sampled_from(
    [
        Fault.answer(429, retry_after=0),
        Fault.answer(500),
        Fault.answer(503),
        Fault.answer(422),
        Fault.commit_then_timeout(hang_seconds=2),
        Fault.commit_then_drop(),
        Fault.reset_before_commit(),
    ]
)


def _crash(sender: Sender) -> None:
    """Stop a sender the way SIGKILL would: nothing after this point is recorded."""
    for task in [sender._loop_task, *sender._tasks]:
        if task is not None:
            task.cancel()


async def _scenario(fake: FakeVocode, faults: list[Fault], crashes: list[float]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(str(Path(tmp) / "r.db"))
        await store.open()
        keys = [await intent(store, to_number=f"+1555555010{n}") for n in range(3)]
        config = load_settings(
            tokens="property-token-0123456789",
            poll_interval_seconds=0.02,
            retry_base_seconds=0.01,
            retry_cap_seconds=0.02,
            vocode_timeout_seconds=0.2,
            # a crashed sender's request may still reach the fake a little later: the
            # reconcile delay covers that, as it covers Vocode's own processing in production
            follow_up_lease_seconds=0.6,
            follow_up_reconcile_delay_seconds=0.5,
            follow_up_reconcile_window_seconds=1.0,
            follow_up_max_attempts=4,
        )
        fake.inject(*faults)
        for after in crashes:
            client = fake.client(timeout=0.2)
            sender = Sender(store, client, config, metrics=Metrics())
            sender.start()
            await asyncio.sleep(after)
            _crash(sender)
            await asyncio.sleep(0)
            await client.aclose()
        client = fake.client(timeout=0.2)
        sender = Sender(store, client, config, metrics=Metrics())
        sender.start()
        try:
            records = await settle(store, keys, timeout=60)
        finally:
            await sender.stop()
            await client.aclose()
            await store.close()
        for key in keys:
            assert calls_for(fake, key) <= 1, (key, faults, crashes)
            if records[key].status == "created":
                assert calls_for(fake, key) == 1


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    faults=st.lists(FAULTS, max_size=6),
    crashes=st.lists(st.floats(min_value=0.0, max_value=0.3), max_size=2),
)
def test_no_intent_is_dialled_twice(faults: list[Fault], crashes: list[float]) -> None:
    """For any faults and crashes: calls recorded per intent ≤ 1 and every intent ends."""
    with FakeVocode(api_key=API_KEY) as fake:
        asyncio.run(_scenario(fake, faults, crashes))
