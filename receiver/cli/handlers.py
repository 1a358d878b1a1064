"""``receiver handlers``: what is loaded, from where, with which options."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from receiver.cli.common import settings_or_exit
from receiver.delivery.registry import load_registry
from receiver.errors import ReceiverError


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per handler.")
def handlers(as_json: bool) -> None:
    """List every loaded handler (RECEIVER_HANDLERS and installed entry points)."""
    settings = settings_or_exit()
    try:
        registry = load_registry(settings.handlers)
    except ReceiverError as exc:
        raise click.ClickException(str(exc)) from None
    rows: list[dict[str, Any]] = []
    for name, spec in registry.handlers.items():
        rows.append(
            {
                "handler": name,
                "types": sorted(spec.types) or ["*"],
                "max_attempts": spec.max_attempts,
                "timeout": spec.timeout,
                "ordered": spec.ordered,
                "concurrency": spec.concurrency,
                "when": getattr(spec.when, "__name__", None) if spec.when else None,
                "sync": not spec.is_async,
                "enrich": spec.enrich,
                "source": registry.sources[name],
            }
        )
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    table = Table("handler", "types", "attempts", "timeout", "ordered", "concurrency", "source")
    for r in rows:
        table.add_row(
            r["handler"],
            ", ".join(r["types"]),
            str(r["max_attempts"]),
            f"{r['timeout']:g}s",
            "yes" if r["ordered"] else "no",
            str(r["concurrency"] or "-"),
            r["source"],
        )
    Console().print(table)
    if not rows:
        click.echo("no handlers loaded: set RECEIVER_HANDLERS=package.module:router")
