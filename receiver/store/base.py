"""The ``Store`` protocol every backend implements, and the records it exchanges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An accepted delivery, ready to be stored with one delivery row per matching handler."""

    id: str
    dedup_key: str
    type: str
    call_id: str
    received_at: float
    method: str
    headers: str  # JSON object, secrets already removed
    envelope: str  # canonical JSON of the hosted envelope
    raw: bytes  # the body (POST) or query string without the token (GET), byte for byte
    handlers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Stored:
    """What :meth:`Store.add_event` answers: the event's id and whether it was known already."""

    id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event as read back from the store."""

    id: str
    seq: int
    dedup_key: str
    type: str
    call_id: str
    received_at: float
    method: str
    headers: dict[str, Any]
    envelope: dict[str, Any]
    raw: bytes


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: int
    latest: int
    applied: list[int] = field(default_factory=list)


class Store(Protocol):
    """Durable storage shared by intake, workers and operator commands."""

    async def open(self) -> None:
        """Connect and apply pending schema versions."""

    async def close(self) -> None:
        """Finish pending writes and disconnect."""

    async def migrate(self) -> SchemaState:
        """Apply every pending schema version in order; return what was applied."""

    async def schema_state(self) -> SchemaState:
        """The version the database is at and the latest this code knows."""

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""

    async def add_event(self, event: NewEvent) -> Stored:
        """Store an event and its deliveries in one transaction; return once durable.

        A second event with the same ``dedup_key`` stores nothing and answers the first id.
        """

    async def get_event(self, event_id: str) -> EventRecord | None:
        """One event by id, or None."""

    async def list_events(
        self, *, type: str | None = None, call_id: str | None = None, limit: int = 50
    ) -> list[EventRecord]:
        """The newest events first, optionally filtered."""

    async def count_events(self) -> int:
        """How many events are stored."""
