"""``receiver purge``: remove what is finished and older than the retention period."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from receiver.cli.common import run_with_store
from receiver.cli.deliveries import parse_time
from receiver.store import Store
from receiver.store.records import Purged


def describe(purged: Purged, follow_ups: bool = True) -> str:
    text = f"{purged.deliveries} deliveries, {purged.events} events"
    return text + (f", {purged.follow_ups} follow-up intents" if follow_ups else "")


@click.command()
@click.option(
    "--older-than",
    "older_than",
    required=True,
    help="Age (30d, 12h, 90m) or an ISO 8601 time (UTC unless an offset is given).",
)
@click.option(
    "--batch-size",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Rows per transaction.",
)
@click.option("--keep-follow-ups", is_flag=True, help="Leave finished follow-up intents alone.")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
def purge(older_than: str, batch_size: int, keep_follow_ups: bool, dry_run: bool) -> None:
    """Delete finished deliveries, events left without any, and finished follow-up intents,
    older than --older-than.

    Deliveries that are done, dropped or skipped go once they finished before the cut-off;
    events go once they were received before it and have no delivery left. Follow-up
    intents that were created, rejected, refused, cancelled or suppressed go once they
    last changed before the cut-off and were sent over a day ago (the per-number cap counts
    the last day). Dead, pending and running deliveries, their events, and pending, sending
    or held intents stay. Work is done in short transactions, so intake and workers go on
    meanwhile. A purged event's dedup key is forgotten: the retention period is the
    deduplication window.

    \b
    Example (daily, from cron or a Kubernetes CronJob; or set RECEIVER_RETENTION_DAYS):
        receiver purge --older-than 30d
    """
    before = parse_time(older_than)
    assert before is not None
    cut = datetime.fromtimestamp(before, UTC).isoformat(timespec="seconds")
    follow_ups = not keep_follow_ups
    if dry_run:
        counted = run_with_store(lambda store: store.count_purgeable(before, follow_ups=follow_ups))
        click.echo(f"would purge {describe(counted, follow_ups)} older than {cut}")
        return

    async def run(store: Store) -> Purged:
        console = Console(stderr=True)
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, transient=True, disable=not console.is_terminal,
        ) as bar:  # fmt: skip
            task = bar.add_task("purging")

            def show(so_far: Purged) -> None:
                bar.update(task, description=f"purged {describe(so_far, follow_ups)}")

            return await store.purge(
                before, batch_size=batch_size, follow_ups=follow_ups, progress=show
            )

    purged = run_with_store(run, read_only=False)
    click.echo(f"purged {describe(purged, follow_ups)} older than {cut}")
