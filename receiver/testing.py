"""A testing kit for handler authors: no server, no database.

Example::

    from receiver.testing import make_event, run

    from handlers.callback import router

    async def test_calls_back_when_no_answer():
        event = make_event("event_phone_call_did_not_connect", telephony_status="no-answer")
        [outcome] = await run(router, event)
        assert outcome.status == "done"
        assert outcome.follow_ups[0].to_number == "+15555550123"
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from receiver.delivery.context import HandlerContext
from receiver.delivery.registry import Registry
from receiver.delivery.router import Router
from receiver.delivery.run import run_handler
from receiver.errors import VocodeError
from receiver.events import EVENT_TYPES, Event, validate
from receiver.follow_ups.intent import FollowUpRequest
from receiver.vocode.client import VocodeClient
from receiver.vocode.models import Call


def sample(event_type: str) -> dict[str, Any]:
    """The example body of ``event_type`` (hosted envelope), as shipped in ``receiver/samples``."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; expected one of {EVENT_TYPES}")
    text = resources.files("receiver.samples").joinpath(f"{event_type}.json").read_text()
    body: dict[str, Any] = json.loads(text)
    return body


def make_event(event_type: str, *, call_id: str | None = None, **payload: Any) -> Event:
    """A typed event from its example, with payload fields overridden by ``payload``.

    ``make_event("event_message", text="hi")`` is the example message with another text.
    """
    body = sample(event_type)
    body["payload"] = {**body["payload"], **payload}
    if call_id is not None:
        body["call_id"] = call_id
    return validate(body)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one handler did with the event."""

    handler: str
    status: str  # done, retry, dropped, skipped, error
    error: str | None
    retry_after: float | None
    follow_ups: tuple[FollowUpRequest, ...]
    notes: Mapping[str, Any] = field(default_factory=dict)  # what the handler annotated


async def run(
    routers: Router | list[Router] | Registry,
    event: Event,
    *,
    event_id: str = "evt_test",
    attempt: int = 1,
    vocode: VocodeClient | None = None,
    default_region: str | None = None,
    call: Call | None = None,
) -> list[Outcome]:
    """Run every handler of ``routers`` that ``event`` matches, as the worker would, once.

    A handler registered with ``enrich=True`` gets ``call`` as ``ctx.call``; without one,
    the call fetched through ``vocode`` (None when there is no client, or the API does not
    know the call).

    Follow-ups are those the handler asked for in a successful run (a failed run records
    none, as in production), their numbers in E.164 (``default_region`` is
    ``RECEIVER_DEFAULT_REGION``: a number that cannot be read fails the run, as in production).
    """
    if isinstance(routers, Registry):
        registry = routers
    else:
        registry = Registry(routers if isinstance(routers, list) else [routers])
    outcomes = []
    for name in registry.route(event):
        spec = registry[name]
        if spec.enrich and call is None and vocode is not None:
            call = await _fetch(vocode, event.call_id)
        ctx = HandlerContext(
            event_id=event_id,
            call_id=event.call_id,
            handler=name,
            attempt=attempt,
            vocode=vocode,
            default_region=default_region,
            call=call if spec.enrich else None,
        )
        ran = await run_handler(spec, event, ctx)
        outcomes.append(
            Outcome(name, ran.kind, ran.error, ran.retry_after, ran.follow_ups, ran.notes)
        )
    return outcomes


async def _fetch(vocode: VocodeClient, call_id: str) -> Call | None:
    try:
        return await vocode.get_call(call_id)
    except VocodeError as exc:
        if exc.status == 404:
            return None
        raise
