"""``receiver purge``: remove what is finished and older than the retention period."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from receiver.cli.common import run_with_store
from receiver.cli.deliveries import parse_time


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
def purge(older_than: str, batch_size: int) -> None:
    """Delete finished deliveries, and events left without any, older than --older-than.

    Deliveries that are done, dropped or skipped go once they finished before the cut-off;
    events go once they were received before it and have no delivery left. Dead, pending
    and running deliveries, and their events, stay. Work is done in short transactions, so
    intake and workers go on meanwhile. A purged event's dedup key is forgotten: the
    retention period is the deduplication window.

    \b
    Example (daily, from cron or a Kubernetes CronJob):
        receiver purge --older-than 30d
    """
    before = parse_time(older_than)
    assert before is not None
    purged = run_with_store(lambda store: store.purge(before, batch_size=batch_size))
    cut = datetime.fromtimestamp(before, UTC).isoformat(timespec="seconds")
    click.echo(
        f"purged {purged.deliveries} deliveries and {purged.events} events older than {cut}"
    )
