"""A follow-up intent: the call a handler asked for, and the key that makes it happen once.

The key is ``<event id>/<handler>/<n>``, the n-th follow-up one run of that handler asked
for. It is recorded with the delivery's success, so a retried or replayed handler asking
again records nothing new; the sender writes it into the call's ``context`` so that a call
whose creation was not confirmed can be found again (:data:`FOLLOW_UP_KEY`).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

FOLLOW_UP_KEY = "receiver_follow_up_key"
FOLLOW_UP_DEPTH = "receiver_follow_up_depth"


def intent_key(event_id: str, handler: str, n: int) -> str:
    """The key of the ``n``-th follow-up asked for by ``handler`` for ``event_id``."""
    return f"{event_id}/{handler}/{n}"


@dataclass(frozen=True, slots=True)
class FollowUpRequest:
    """A follow-up call a handler asked for; recorded when its delivery succeeds."""

    key: str
    call_id: str  # the call whose event asked for it
    to_number: str
    from_number: str
    agent: str | dict[str, Any]
    context: dict[str, str | None]
    not_before: float
    options: dict[str, Any]  # other create-call fields: on_no_human_answer, hipaa_compliant, ...
    trace_context: str | None = None  # the asking handler run's span (W3C traceparent)

    @property
    def event_id(self) -> str:
        return self.key.split("/", 2)[0]

    @property
    def handler(self) -> str:
        return self.key.split("/", 2)[1]

    def body(self) -> dict[str, Any]:
        """The ``POST /v1/calls/create`` body it asks for (the key is added when sent)."""
        return {
            **self.options,
            "to_number": self.to_number,
            "from_number": self.from_number,
            "agent": self.agent,
            "context": self.context,
        }

    def __await__(self) -> Generator[Any, None, FollowUpRequest]:
        # ``await ctx.follow_up(...)`` and plain ``ctx.follow_up(...)`` (sync handlers) both work
        return self
        yield  # pragma: no cover - makes this a generator
