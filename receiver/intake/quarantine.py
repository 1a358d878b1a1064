"""Quarantine: an authenticated event whose payload does not fit its type's model.

Refusing such an event (422) would lose it: Vocode's retries are undocumented, and a
model that is too strict is this service's fault, not the sender's. So intake keeps it as it
came, with the validation errors and the version that found them, gives it no delivery and
counts it (``receiver_events_quarantined_total``). After an upgrade whose models read it,
``receiver events reparse`` releases it (:func:`reparse`): its deliveries are created then,
once, however many reparses run.

Only what is not an event at all is refused: a body without a ``type`` or a ``call_id``
(:class:`~receiver.events.Envelope`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from receiver import __version__
from receiver.errors import RejectedDelivery
from receiver.events import Envelope, Event, validate
from receiver.intake.dedup import CONTENT_KEY, dedup_key
from receiver.intake.envelope import field_errors
from receiver.intake.limits import event_json
from receiver.store import EventRecord, Store

Route = Callable[[Event], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Reading:
    """What intake stores of one event: the envelope as JSON, its payload's canonical JSON
    (the dedup digest's input), the handlers it goes to, and, when it did not fit its
    model, its quarantine record (JSON)."""

    type: str
    call_id: str
    envelope_json: str
    payload_json: str
    handlers: tuple[str, ...] = ()
    quarantine: str | None = None
    where: tuple[str, ...] = ()  # the errors' locations (``payload.timestamp``), for the log


def quarantine_json(exc: ValidationError) -> str:
    """The quarantine record: which version found which errors (locations and messages,
    never the values)."""
    return json.dumps({"version": __version__, "errors": field_errors(exc)})


def _where(exc: ValidationError) -> tuple[str, ...]:
    return tuple(".".join(str(part) for part in e["loc"]) for e in field_errors(exc))


def quarantined(envelope: Any, exc: ValidationError) -> Reading:
    """``envelope`` as it came, quarantined with the errors of ``exc``; refused (422) if it
    is not an event at all."""
    try:
        Envelope.model_validate(envelope)
    except ValidationError as bad:
        raise RejectedDelivery("invalid", field_errors(bad)) from None
    payload_json, envelope_json = event_json(envelope)
    return Reading(
        envelope["type"], envelope["call_id"], envelope_json, payload_json, (),
        quarantine_json(exc), _where(exc),
    )  # fmt: skip


Outcome = Literal["released", "duplicate", "still_invalid", "not_quarantined"]


@dataclass(frozen=True, slots=True)
class Reparsed:
    """What a reparse did with one event."""

    event_id: str
    outcome: Outcome
    deliveries: int = 0  # created, when released
    duplicate_of: str | None = None  # the event it turned out to be, when a duplicate
    errors: int = 0  # how many, when still invalid


async def reparse(store: Store, route: Route, record: EventRecord) -> Reparsed:
    """Read a quarantined event again with this version's models; release it when it fits
    (its deliveries created by ``route``), else record the errors found now."""
    if not record.quarantined:
        return Reparsed(record.id, "not_quarantined")
    try:
        event = validate(record.envelope)
    except ValidationError as exc:
        await store.update_quarantine(record.id, quarantine_json(exc))
        return Reparsed(record.id, "still_invalid", errors=exc.error_count())
    payload_json, envelope_json = event_json(event.model_dump(mode="json"))
    key = record.dedup_key
    if key.startswith(CONTENT_KEY):  # a digest of the payload as read: read anew, digest anew
        key = dedup_key(event.type, event.call_id, payload_json, None)
    released = await store.release_quarantined(record.id, envelope_json, key, route(event))
    return Reparsed(record.id, released.outcome, released.deliveries, released.duplicate_of)


async def in_quarantine(store: Store, page: int = 500) -> AsyncIterator[EventRecord]:
    """Every event in quarantine, newest first, read ``page`` at a time."""
    before: int | None = None
    while True:
        records = await store.list_events(quarantined=True, limit=page, before_seq=before)
        for record in records:
            yield record
        if len(records) < page:
            return
        before = records[-1].seq
