"""What a handler receives beside the event: ``ctx``.

Example::

    @router.on("event_phone_call_did_not_connect")
    async def call_back(event, ctx: HandlerContext) -> None:
        ctx.annotate(telephony_status=event.payload.telephony_status)  # on delivery_finished
        await ctx.follow_up(to_number="+15555550123", from_number="+15555550199",
                            agent="0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b",
                            not_before=time.time() + 3600)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from structlog.typing import FilteringBoundLogger

from receiver.follow_ups.intent import FollowUpRequest, intent_key
from receiver.numbers import to_e164
from receiver.vocode.client import VocodeClient
from receiver.vocode.models import Call, CreateCallRequest

RESERVED_NOTES = frozenset(
    {
        "event", "level", "logger", "timestamp", "outcome", "duration_ms", "error",
        "follow_ups", "retry_in", "event_id", "call_id", "type", "handler", "attempt",
        "delivery_id",
    }
)  # fmt: skip
"""The fields of ``delivery_finished`` itself: a note cannot take their names."""


@dataclass
class HandlerContext:
    """Everything a handler may use besides the event. Built by the worker per attempt."""

    event_id: str
    call_id: str
    handler: str
    attempt: int
    log: FilteringBoundLogger = field(
        default_factory=lambda: structlog.get_logger("receiver.handler")
    )
    vocode: VocodeClient | None = None  # set when RECEIVER_VOCODE_API_KEY is
    side_effects: bool = True
    default_region: str | None = None  # RECEIVER_DEFAULT_REGION: numbers without +country code
    trace_context: str | None = None  # this attempt's span (W3C traceparent), when tracing
    call: Call | None = None  # with enrich=True: the call (None if the API does not know it)
    follow_ups: list[FollowUpRequest] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def annotate(self, **fields: Any) -> None:
        """Add ``fields`` to this attempt's ``delivery_finished`` line.

        One line per delivery, the handler's facts beside the worker's (outcome, duration,
        ids): what a handler would otherwise log as a line of its own. A later call with the
        same key replaces the value. The names the line already has are refused
        (``ValueError``). Redaction applies as to every line.
        """
        taken = RESERVED_NOTES.intersection(fields)
        if taken:
            raise ValueError(f"delivery_finished already has {', '.join(sorted(taken))}")
        self.notes.update(fields)

    def follow_up(
        self,
        *,
        to_number: str,
        from_number: str,
        agent: str | dict[str, Any],
        context: dict[str, str | None] | None = None,
        not_before: float | None = None,
        **options: Any,
    ) -> FollowUpRequest:
        """Ask for a call through ``POST /v1/calls/create`` once this delivery succeeds.

        The request is keyed by (event, handler, its rank in this run): a retried or
        replayed handler asking again records nothing new, so nobody is called twice.
        Numbers are kept in E.164; one written without ``+country code`` is read in
        ``RECEIVER_DEFAULT_REGION``, and one that cannot be read raises
        :class:`~receiver.errors.InvalidNumber` here, in the handler.
        It is checked here, as ``CreateCallRequest``: a misspelt or mistyped field (of an
        inline agent too) raises ``pydantic.ValidationError`` in the handler.
        """
        key = intent_key(self.event_id, self.handler, len(self.follow_ups) + 1)
        request = FollowUpRequest(
            key=key,
            call_id=self.call_id,
            to_number=to_e164(to_number, self.default_region, what="to_number"),
            from_number=to_e164(from_number, self.default_region, what="from_number"),
            agent=agent,
            context=dict(context or {}),
            not_before=not_before if not_before is not None else time.time(),
            options=options,
            trace_context=self.trace_context,
        )
        CreateCallRequest.model_validate(request.body())
        self.follow_ups.append(request)
        return request
