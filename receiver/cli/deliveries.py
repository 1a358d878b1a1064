"""``receiver deliveries list|show`` and ``receiver replay``."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from receiver.cli.common import record_json, run_with_store, when
from receiver.delivery.replay import CHUNK, requeue_in_chunks
from receiver.store import Store
from receiver.store.records import DELIVERY_STATUSES, DeliveryFilter, DeliveryRecord
from receiver.times import parse_when


def parse_time(value: str | None) -> float | None:
    """``2h`` / ``30m`` / ``7d`` ago, or an ISO 8601 time (UTC when no offset is given)."""
    if value is None:
        return None
    try:
        return parse_when(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _as_json(record: DeliveryRecord) -> dict[str, Any]:
    return record_json(record, ("next_attempt_at", "lease_until", "created_at", "updated_at"))


@click.group()
def deliveries() -> None:
    """Inspect deliveries (one per event and handler)."""


@deliveries.command("list")
@click.option("--status", type=click.Choice(DELIVERY_STATUSES), default=None)
@click.option("--handler", default=None, help="Only this handler (router.function).")
@click.option("--type", "type_", default=None, help="Only events of this type.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_deliveries(
    status: str | None, handler: str | None, type_: str | None, limit: int, as_json: bool
) -> None:
    """The newest deliveries first."""
    where = DeliveryFilter(status=status, handler=handler, type=type_, limit=limit)
    rows = run_with_store(lambda store: store.list_deliveries(where))
    if as_json:
        for row in rows:
            click.echo(json.dumps(_as_json(row)))
        return
    table = Table("id", "handler", "type", "status", "attempts", "event", "updated (UTC)", "error")
    for r in rows:
        error = (r.last_error or "")[:60]
        table.add_row(
            str(r.id),
            r.handler,
            r.event_type,
            r.status,
            str(r.attempts),
            r.event_id,
            when(r.updated_at) or "",
            error,
        )
    Console().print(table)


@deliveries.command("show")
@click.argument("delivery_id", type=int)
def show_delivery(delivery_id: int) -> None:
    """One delivery, with its last error."""
    record = run_with_store(lambda store: store.get_delivery(delivery_id))
    if record is None:
        raise click.ClickException(f"no delivery {delivery_id}")
    click.echo(json.dumps(_as_json(record), indent=2))


@click.command()
@click.argument("delivery_ids", nargs=-1, type=int)
@click.option(
    "--status",
    type=click.Choice(DELIVERY_STATUSES),
    default="dead",
    show_default=True,
    help="Without ids: replay deliveries in this status.",
)
@click.option("--handler", default=None, help="Only this handler.")
@click.option("--type", "type_", default=None, help="Only events of this type.")
@click.option("--since", default=None, help="Created at or after (2h, 7d, or ISO time).")
@click.option("--until", default=None, help="Created before (2h, 7d, or ISO time).")
@click.option("--dry-run", is_flag=True, help="Say what would be replayed; change nothing.")
@click.option(
    "--no-side-effects",
    is_flag=True,
    help="Run handlers, but record their follow-up calls as suppressed: dial nobody.",
)
def replay(
    delivery_ids: tuple[int, ...],
    status: str,
    handler: str | None,
    type_: str | None,
    since: str | None,
    until: str | None,
    dry_run: bool,
    no_side_effects: bool,
) -> None:
    """Run deliveries again: the ids given, or every one matching the filters (dead by default)."""
    if delivery_ids:
        where = DeliveryFilter(ids=delivery_ids)
    else:
        where = DeliveryFilter(
            status=status,
            handler=handler,
            type=type_,
            since=parse_time(since),
            until=parse_time(until),
        )

    async def work(store: Store) -> tuple[list[DeliveryRecord], int]:
        found = await store.list_deliveries(where)
        unknown = sorted(set(delivery_ids) - {r.id for r in found})
        if unknown:  # nothing is replayed: the command as given cannot be done
            names = ", ".join(str(i) for i in unknown)
            raise click.ClickException(f"no delivery {names}; nothing was replayed")
        rows = [r for r in found if r.status != "running"]
        if dry_run or not rows:
            return rows, 0
        with Progress(transient=True, disable=len(rows) <= CHUNK) as progress:
            task = progress.add_task("replaying", total=len(rows))
            done = await requeue_in_chunks(
                store, [r.id for r in rows], side_effects=not no_side_effects,
                advance=lambda n: progress.advance(task, n),
            )  # fmt: skip
        return rows, done

    rows, done = run_with_store(work, read_only=dry_run)
    if dry_run:
        for r in rows:
            click.echo(f"would replay {r.id} {r.handler} {r.event_type} {r.event_id} ({r.status})")
        click.echo(f"{len(rows)} deliveries would be replayed")
        return
    suffix = " (side effects off: follow-ups suppressed)" if no_side_effects else ""
    click.echo(f"replayed {done} deliveries{suffix}")
