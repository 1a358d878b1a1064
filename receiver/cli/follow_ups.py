"""``receiver follow-ups list|show|release|cancel`` and ``receiver dnc add|remove|list``."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from receiver.cli.common import record_json, run_with_store, when
from receiver.store.records import FOLLOW_UP_STATUSES, FollowUpRecord


def _as_json(record: FollowUpRecord) -> dict[str, Any]:
    return record_json(record, _TIMES)


_TIMES = (
    "not_before", "next_attempt_at", "sent_at", "created_at", "updated_at", "reconcile_until"
)  # fmt: skip


@click.group("follow-ups")
def follow_ups() -> None:
    """Follow-up calls handlers asked for, and what became of them."""


@follow_ups.command("list")
@click.option("--status", type=click.Choice(FOLLOW_UP_STATUSES), default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_follow_ups(status: str | None, limit: int, as_json: bool) -> None:
    """The newest intents first."""
    rows = run_with_store(lambda store: store.list_follow_ups(status=status, limit=limit))
    if as_json:
        for row in rows:
            click.echo(json.dumps(_as_json(row)))
        return
    table = Table("key", "status", "to", "attempts", "vocode call", "reason")
    for r in rows:
        masked = "…" + r.to_number[-4:]
        table.add_row(
            r.key, r.status, masked, str(r.attempts), r.vocode_call_id or "", (r.reason or "")[:60]
        )
    Console().print(table)


@follow_ups.command("show")
@click.argument("key")
def show_follow_up(key: str) -> None:
    """One intent with its request and reason."""
    record = run_with_store(lambda store: store.get_follow_up(key))
    if record is None:
        raise click.ClickException(f"no follow-up {key}")
    click.echo(json.dumps(_as_json(record), indent=2))


@follow_ups.command("release")
@click.argument("key")
def release(key: str) -> None:
    """Send a held, rejected or refused intent again (guards and reconciliation still apply)."""
    if not run_with_store(lambda store: store.release_follow_up(key), read_only=False):
        raise click.ClickException(f"{key}: not found, or not held, rejected or refused")
    click.echo(f"released {key}")


@follow_ups.command("cancel")
@click.argument("key")
def cancel(key: str) -> None:
    """Never send this intent (any status but sending or created)."""
    if not run_with_store(lambda store: store.cancel_follow_up(key), read_only=False):
        raise click.ClickException(f"{key}: not found, or already sending or created")
    click.echo(f"cancelled {key}")


@click.group()
def dnc() -> None:
    """The do-not-call list: numbers no follow-up may dial."""


@dnc.command("add")
@click.argument("number")
@click.option("--reason", default=None, help="Why (kept beside the number).")
def dnc_add(number: str, reason: str | None) -> None:
    """Add a number, kept in E.164: +15555550123, or as written in RECEIVER_DEFAULT_REGION
    (555-555-0123 with US). A number that cannot be read is refused (exit 1)."""
    e164 = run_with_store(lambda store: store.dnc_add(number, reason), read_only=False)
    click.echo(f"added {e164}")


@dnc.command("remove")
@click.argument("number")
def dnc_remove(number: str) -> None:
    """Remove a number (read as `dnc add` reads it)."""
    if not run_with_store(lambda store: store.dnc_remove(number), read_only=False):
        raise click.ClickException("that number is not on the list")
    click.echo("removed")


@dnc.command("list")
@click.option("--json", "as_json", is_flag=True)
def dnc_list(as_json: bool) -> None:
    """Every listed number, in E.164."""
    rows = run_with_store(lambda store: store.dnc_list())
    for number, reason, added in rows:
        row = {"number": number, "reason": reason, "added_at": when(added)}
        click.echo(json.dumps(row) if as_json else f"{number}\t{when(added)}\t{reason or ''}")
