"""``receiver events list``, ``receiver events show`` and ``receiver events reparse``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from receiver.cli.common import run_with_store, settings_or_exit
from receiver.cli.deliveries import parse_time
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
        "quarantined": event.quarantined,
    }


@click.group()
def events() -> None:
    """Inspect stored events; release quarantined ones."""


@events.command("list")
@click.option("--type", "type_", default=None, help="Only this event type.")
@click.option("--call-id", default=None, help="Only events of this call.")
@click.option(
    "--quarantined", is_flag=True, help="Only events in quarantine (payload did not fit)."
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_events(
    type_: str | None, call_id: str | None, quarantined: bool, limit: int, as_json: bool
) -> None:
    """The newest events first."""

    async def run(store: Store) -> list[EventRecord]:
        return await store.list_events(
            type=type_, call_id=call_id, limit=limit, quarantined=quarantined
        )

    rows = run_with_store(run)
    if as_json:
        for row in rows:
            click.echo(json.dumps(_summary(row)))
        return
    table = Table("id", "type", "call id", "received (UTC)", "method", "quarantined")
    for row in rows:
        s = _summary(row)
        flag = "yes" if s["quarantined"] else ""
        table.add_row(s["id"], s["type"], s["call_id"], s["received_at"], s["method"], flag)
    Console().print(table)


@events.command("show")
@click.argument("event_id")
def show_event(event_id: str) -> None:
    """One event: parsed envelope, raw body, headers (secrets removed), received time, and
    its quarantine (the validation errors) if its payload did not fit."""

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
        "quarantine": event.quarantine,
        "released_at": None if event.released_at is None else _when(event.released_at),
    }
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))


@events.command("tail")
@click.option("--since", default=None, help="Start this far back (2h, or ISO time); default: now.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option(
    "--interval", default=0.5, show_default=True, type=click.FloatRange(0.05, 60),
    help="Seconds between two reads of the store.",
)  # fmt: skip
def tail_events(since: str | None, as_json: bool, interval: float) -> None:
    """Follow new events as they are stored, one line each, until interrupted (Ctrl-C).

    Read-only: runs beside `serve` and `worker` on either store. Lines carry what `events
    list` shows (no phone number, no text).
    """
    start = parse_time(since)
    out = sys.stdout

    async def follow(store: Store) -> None:
        after = await store.first_seq_at(start) - 1
        when = "now" if start is None else since
        click.echo(f"following events stored from {when} on (Ctrl-C to stop)", err=True)
        while True:
            page = await store.events_after(after, limit=500)
            for event in page.events:
                out.write(_tail_line(event, as_json) + "\n")
            out.flush()
            after = page.last_seq or after
            if len(page.events) < 500:
                await asyncio.sleep(interval)

    with contextlib.suppress(KeyboardInterrupt):
        run_with_store(follow)


def _tail_line(event: EventRecord, as_json: bool) -> str:
    s = _summary(event)
    if as_json:
        return json.dumps(s)
    flag = "  quarantined" if s["quarantined"] else ""
    return f"{s['received_at']}  {s['type']:<34} {s['call_id']}  {s['id']}{flag}"


@events.command("reparse")
@click.argument("event_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every event in quarantine.")
def reparse_events(event_ids: tuple[str, ...], every: bool) -> None:
    """Read quarantined events again with this version's models, after an upgrade.

    Each one that fits now is released: its deliveries are created (once, however many
    reparses run), for the handlers of RECEIVER_HANDLERS: run it with the workers' settings.
    Each one that still does not fit stays quarantined with the errors found now.
    """
    if bool(event_ids) == every:
        raise click.UsageError("give event ids, or --all (not both)")
    from receiver.delivery.registry import load_registry
    from receiver.intake.quarantine import Reparsed, in_quarantine, reparse

    settings = settings_or_exit()

    async def main(store: Store) -> tuple[list[Reparsed], list[str]]:
        registry = load_registry(settings.handlers)
        done: list[Reparsed] = []
        missing: list[str] = []
        if every:
            async for record in in_quarantine(store):
                done.append(await reparse(store, registry.route, record))
        for event_id in event_ids:
            found = await store.get_event(event_id)
            if found is None:
                missing.append(event_id)
            else:
                done.append(await reparse(store, registry.route, found))
        return done, missing

    # it writes (no migration)
    done, missing = run_with_store(main, read_only=False, settings=settings)
    for result in done:
        click.echo(_reparsed_line(result))
    counts = {o: sum(r.outcome == o for r in done) for o in ("released", "duplicate")}
    still = sum(r.outcome == "still_invalid" for r in done)
    click.echo(
        f"reparsed {len(done)}: {counts['released']} released, {counts['duplicate']} "
        f"duplicates, {still} still quarantined"
    )
    if missing:
        raise click.ClickException("no event " + ", ".join(missing))


def _reparsed_line(result: Any) -> str:
    if result.outcome == "released":
        return f"released {result.event_id}: {result.deliveries} deliveries"
    if result.outcome == "duplicate":
        return f"released {result.event_id}: a duplicate of {result.duplicate_of}, no delivery"
    if result.outcome == "still_invalid":
        return f"still quarantined {result.event_id}: {result.errors} errors"
    return f"not quarantined {result.event_id}: nothing to do"
