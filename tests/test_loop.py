"""The claim loop shared by the worker and the sender."""

from __future__ import annotations

import asyncio

from receiver.loop import ClaimLoop


class Flaky(ClaimLoop[int]):
    """Its first claim raises what no store translates; the next one answers an item."""

    def __init__(self) -> None:
        super().__init__(capacity=1, poll=0.01, grace=1.0)
        self.claims = 0
        self.ran = asyncio.Event()

    async def _claim(self, free: int) -> tuple[list[int], bool]:
        self.claims += 1
        if self.claims == 1:
            raise RuntimeError("an error the store did not translate")
        return ([1], False) if not self.ran.is_set() else ([], False)

    async def _run(self, item: int) -> None:
        self.ran.set()


async def test_an_unexpected_claim_error_does_not_stop_the_loop() -> None:
    """A claim that raises is logged and tried again; the loop keeps running its items."""
    loop = Flaky()
    loop.start()
    try:
        async with asyncio.timeout(10):
            await loop.ran.wait()
        assert loop.running
    finally:
        await loop.stop()
