"""``receiver calls list|show``: the calls the receiver knows, and what became of them."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from receiver.cli.common import record_json, run_with_store, when
from receiver.store import Store
from receiver.store.call_records import CALL_STATUSES, CallRecord
from receiver.store.records import EventRecord

_TIMES = ("first_seen_at", "last_seen_at", "next_check_at", "lease_until", "updated_at")


def _as_json(record: CallRecord) -> dict[str, Any]:
    return record_json(record, _TIMES)


def _event_line(event: EventRecord) -> dict[str, Any]:
    synthesized = event.envelope.get("synthesized")
    return {
        "id": event.id,
        "type": event.type,
        "received_at": when(event.received_at),
        "synthesized": synthesized,
        "quarantined": event.quarantined,
    }


@click.group()
def calls() -> None:
    """The calls the receiver knows (from their events, or created by a follow-up), their
    last known stage, and the lookups of those whose terminal event did not come."""


@calls.command("list")
@click.option("--status", type=click.Choice(CALL_STATUSES), default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_calls(status: str | None, limit: int, as_json: bool) -> None:
    """The calls first seen last come first (``--status unreconciled``: those given up)."""
    rows = run_with_store(lambda store: store.list_calls(status=status, limit=limit))
    if as_json:
        for row in rows:
            click.echo(json.dumps(_as_json(row)))
        return
    table = Table("call", "status", "stage", "events", "last seen", "lookups", "last lookup")
    for r in rows:
        table.add_row(
            r.call_id, r.status, r.stage, str(r.events), when(r.last_seen_at) or "",
            str(r.lookups), (r.last_result or "")[:60],
        )  # fmt: skip
    Console().print(table)


@calls.command("show")
@click.argument("call_id")
def show_call(call_id: str) -> None:
    """One call, with its events (a synthesised one says so, and from where)."""

    async def read(store: Store) -> tuple[CallRecord | None, list[EventRecord]]:
        return await store.get_call(call_id), await store.list_events(call_id=call_id, limit=500)

    record, events = run_with_store(read)
    if record is None:
        raise click.ClickException(f"no call {call_id}")
    shown = _as_json(record)
    shown["event_list"] = [_event_line(e) for e in reversed(events)]
    click.echo(json.dumps(shown, indent=2))
