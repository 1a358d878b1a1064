"""``receiver migrate [--status | --dry-run]``: apply schema versions, or say what would be."""

from __future__ import annotations

import asyncio

import click

from receiver.cli.common import opened_store, settings_or_exit
from receiver.errors import ReceiverError
from receiver.store.records import SchemaState
from receiver.store.schema import check_current


@click.command()
@click.option("--status", is_flag=True, help="Print the current, latest and pending versions.")
@click.option("--dry-run", is_flag=True, help="Say which versions would apply; change nothing.")
def migrate(status: bool, dry_run: bool) -> None:
    """Apply pending schema versions and print the database's version.

    Only this command, `receiver serve` and `receiver worker` change the schema; every other
    command refuses a database that is not at the version it knows. With --status or
    --dry-run the database is opened read-only and nothing is created or changed.
    """
    settings = settings_or_exit()

    async def main() -> SchemaState:
        read_only = status or dry_run
        async with opened_store(settings, read_only=read_only, migrate=not read_only) as store:
            return await store.schema_state()

    try:
        state = asyncio.run(main())
    except ReceiverError as exc:
        raise click.ClickException(str(exc)) from None
    pending = state.pending
    if status:
        click.echo(f"current: {state.current}\nlatest: {state.latest}")
        click.echo("pending: " + (", ".join(str(n) for n, _ in pending) or "none"))
        for n, title in pending:
            click.echo(f"  {n}: {title}")
    elif dry_run:
        for n, title in pending:
            click.echo(f"would apply {n}: {title}")
        click.echo(f"{len(pending)} versions would be applied (schema version {state.current})")
    else:
        click.echo(f"schema version {state.current} (latest {state.latest})")
    if state.current > state.latest:  # a newer database: say so, exit 1
        try:
            check_current(state)
        except ReceiverError as exc:
            raise click.ClickException(str(exc)) from None
