"""What a handler may raise to say how its delivery ended, other than returning normally.

Example::

    from receiver import Drop, Retry

    @router.on("event_recording")
    async def fetch(event, ctx):
        if event.payload.recording_url is None:
            raise Retry(after=30)        # not ready yet: try again in 30 s
        if ctx.attempt > 3 and event.payload.recording_url.startswith("http:"):
            raise Drop("refusing plain-http recording URL")
"""

from __future__ import annotations


class Retry(Exception):
    """Run this delivery again, after ``after`` seconds (or the backoff).

    A retry still counts towards ``max_attempts``.
    """

    def __init__(self, after: float | None = None, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.after = after
        self.reason = reason


class Drop(Exception):
    """Give up on this delivery for good, without calling it a failure (status ``dropped``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
