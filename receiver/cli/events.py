"""``receiver events list`` and ``receiver events show``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from receiver.cli.common import run_with_store
from receiver.store import EventRecord, Store


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _summary(event: EventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "call_id": event.call_id,
        "received_at": _when(event.received_at),
        "method": event.method,
    }


@click.group()
def events() -> None:
    """Inspect stored events."""


@events.command("list")
@click.option("--type", "type_", default=None, help="Only this event type.")
@click.option("--call-id", default=None, help="Only events of this call.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_events(type_: str | None, call_id: str | None, limit: int, as_json: bool) -> None:
    """The newest events first."""

    async def run(store: Store) -> list[EventRecord]:
        return await store.list_events(type=type_, call_id=call_id, limit=limit)

    rows = run_with_store(run)
    if as_json:
        for row in rows:
            click.echo(json.dumps(_summary(row)))
        return
    table = Table("id", "type", "call id", "received (UTC)", "method")
    for row in rows:
        s = _summary(row)
        table.add_row(s["id"], s["type"], s["call_id"], s["received_at"], s["method"])
    Console().print(table)


@events.command("show")
@click.argument("event_id")
def show_event(event_id: str) -> None:
    """One event: parsed envelope, raw body, headers (secrets removed), received time."""

    async def run(store: Store) -> EventRecord | None:
        return await store.get_event(event_id)

    event = run_with_store(run)
    if event is None:
        raise click.ClickException(f"no event {event_id}")
    out = {
        **_summary(event),
        "dedup_key": event.dedup_key,
        "headers": event.headers,
        "envelope": event.envelope,
        "raw": event.raw.decode("utf-8", errors="replace"),
    }
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))
