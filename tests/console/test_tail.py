"""The live tail: events stored after a point come out as Server-Sent Events, newest ones
when they come too fast, and every stream ends when the server stops."""

from __future__ import annotations

import asyncio
import json

from console.support import seed_call
from receiver.console.tail import TailHub, _sse


async def _next(stream, timeout: float = 10.0):
    """The next item of an async iterator (the timeout only stops a hung test)."""
    return await asyncio.wait_for(anext(stream), timeout)


async def test_a_new_event_reaches_an_open_tail(store) -> None:
    """A tail from now yields the events stored after it opened, and only those."""
    await seed_call(store, "before")
    hub = TailHub(store, interval=0.01)
    stream = hub.pages(await store.first_seq_at() - 1)
    first = asyncio.ensure_future(_next(stream))
    await asyncio.sleep(0)  # the stream is open and waiting
    ids = await seed_call(store, "after")
    seen = [e.id for e in (await first).events]
    while len(seen) < len(ids):
        page = await _next(stream)
        seen += [e.id for e in page.events] if page is not None else []
    assert seen == ids
    await stream.aclose()


async def test_the_tail_watches_commits_only_while_open(store) -> None:
    """The hub hooks the store's commits while a tail is open, and unhooks after."""
    hub = TailHub(store, interval=0.01)
    before = list(store.on_commit)
    stream = hub.pages(0)
    pending = asyncio.ensure_future(_next(stream))
    await asyncio.sleep(0.05)
    assert hub.streams == 1 and len(store.on_commit) == len(before) + 1
    await seed_call(store, "c")
    await pending
    await stream.aclose()
    assert hub.streams == 0 and store.on_commit == before


async def test_closing_ends_every_stream(store) -> None:
    """close() (the server stopping) ends an open stream that is waiting for events."""
    hub = TailHub(store, interval=0.01)
    stream = hub.pages(await store.first_seq_at() - 1)
    waiting = asyncio.ensure_future(_next(stream))
    await asyncio.sleep(0.05)
    hub.close()
    try:
        await asyncio.wait_for(waiting, 10)
    except StopAsyncIteration:
        pass
    else:
        raise AssertionError("the stream went on after close()")


async def test_sse_lines_name_the_seq_and_mask_numbers(console_app, store_of) -> None:
    """Each event is an SSE message whose id is its seq (to resume from) and whose data is
    the same summary the pages show; a burst beyond 50 is announced as skipped."""
    console = console_app.state.console
    for n in range(10):
        await seed_call(store_of, f"call-{n}")  # 60 events
    stream = _sse(console, 0)
    assert await _next(stream) == "retry: 2000\n\n"
    skipped = await _next(stream)
    assert skipped.startswith("event: skipped\n")
    assert json.loads(skipped.split("data: ")[1]) == {"count": 10}
    messages = [await _next(stream) for _ in range(3)]  # seq 11, 12, then call-2 connected
    seqs = [int(m.split("\n")[0].removeprefix("id: ")) for m in messages]
    data = json.loads(messages[2].split("data: ", 1)[1])
    assert seqs == [11, 12, 13] and data["seq"] == 13
    assert data["type"] == "event_phone_call_connected" and data["call_id"] == "call-2"
    assert data["line"] == "+*******0199 → +*******0123"
    await stream.aclose()
