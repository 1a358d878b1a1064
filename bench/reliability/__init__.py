"""The reliability suite: vocode-receiver tried as an attacker and as bad luck would, with one
table of figures at the end. Every part runs real ``receiver serve`` processes.

    make reliability                          # = python -m bench reliability (a few minutes)
    python -m bench reliability --short       # the CI form (part of `make test`)
    python -m bench reliability --parts catalogue,disk

Parts: the bad-input catalogue (on SQLite, and on PostgreSQL when ``--pg-url`` or
``RECEIVER_TEST_DATABASE_URL`` names a server), a hypothesis fuzz over HTTP, SIGKILL under
load, the follow-up fault matrix with kills, disk full, header and slow-connection attacks.
The exit status is 1 when anything that must hold did not. Results: ``.bench/reliability.json``.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import platform
import tempfile
from dataclasses import asdict
from pathlib import Path

import click
import structlog
from rich.console import Console
from rich.table import Table

from bench.reliability import parts
from bench.reliability.parts import FULL, SHORT, Row, Sizes
from bench.reliability.proc import use_code
from receiver.serving import raise_file_limit

ROOT = Path(__file__).resolve().parent.parent.parent
PARTS = ("catalogue", "fuzz", "kills", "follow-ups", "disk", "attacks")


async def _run(chosen: list[str], sizes: Sizes, pg_url: str | None, work: Path) -> list[Row]:
    rows: list[Row] = []
    sqlite = lambda name: f"sqlite:///{work / name}.db"  # noqa: E731
    if "catalogue" in chosen:
        rows += await parts.catalogue_on(work, "SQLite", sqlite("catalogue"))
        if pg_url:
            url, name = await parts.pg_database(pg_url)
            try:
                rows += await parts.catalogue_on(work, "PostgreSQL", url)
            finally:
                await parts.drop_database(pg_url, name)
        else:
            rows.append(Row("bad input", "PostgreSQL", "not run: no --pg-url"))
    if "fuzz" in chosen:
        rows += await parts.fuzz_on(work, sqlite("fuzz"), sizes.fuzz)
    if "kills" in chosen:
        rows += await parts.kills_on(work, sqlite("kills"), sizes)
    if "follow-ups" in chosen:
        rows += await parts.follow_ups_on(work, sqlite("follow-ups"), sizes)
    if "disk" in chosen:
        rows += await parts.disk_on(work, sizes)
    if "attacks" in chosen:
        rows += await parts.attacks_on(work, sizes)
    return rows


def _table(rows: list[Row], title: str) -> Table:
    table = Table(title=title)
    for column in ("part", "measure", "value", "holds"):
        table.add_column(column)
    for row in rows:
        mark = "" if row.holds is None else ("yes" if row.holds else "NO")
        table.add_row(row.part, row.measure, row.value, mark)
    return table


@click.command()
@click.option("--short", is_flag=True, help="The CI form: fewer bodies, kills and seconds.")
@click.option("--parts", "chosen", default=",".join(PARTS), show_default=True,
              help="Comma-separated parts to run.")  # fmt: skip
@click.option("--pg-url", envvar="RECEIVER_TEST_DATABASE_URL", default=None,
              help="A PostgreSQL server where a database may be created (the catalogue also "
              "runs there).")  # fmt: skip
@click.option("--work", type=click.Path(path_type=Path), default=None,
              help="Where processes keep their files and logs (default: a new temporary "
              "directory).")  # fmt: skip
@click.option("--code", "revision", default=None, metavar="REVISION",
              help="Try the receiver of this git revision instead of this checkout (e.g. main: "
              "the figures before a change).")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), default=ROOT / ".bench/reliability.json",
              show_default=True, help="Where the results are written as JSON.")  # fmt: skip
def main(
    short: bool, chosen: str, pg_url: str | None, work: Path | None, revision: str | None,
    out: Path,
) -> None:  # fmt: skip
    """Run the reliability suite and print its table."""
    names = [p.strip() for p in chosen.split(",") if p.strip()]
    unknown = set(names) - set(PARTS)
    if unknown:
        raise click.BadParameter(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    sizes = SHORT if short else FULL
    # the fake Vocode API runs in this process: its info lines would bury the table
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("uvicorn.error").disabled = True  # its tracebacks of clients gone away
    raise_file_limit(8192)  # the flood opens hundreds of connections from here
    with tempfile.TemporaryDirectory(prefix="receiver-reliability-") as tmp:
        place = work or Path(tmp)
        place.mkdir(parents=True, exist_ok=True)
        use_code(place, revision)
        rows = asyncio.run(_run(names, sizes, pg_url, place))
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    form = "short" if short else "full"
    code = f"the code at {revision}" if revision else "this checkout"
    title = f"reliability ({form} form) of {code}, {when}, {platform.machine()}"
    Console(width=140).print(_table(rows, title))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": when, "form": form, "rows": [asdict(r) for r in rows]}))
    failed = [r for r in rows if r.holds is False]
    if failed:
        raise click.ClickException(f"{len(failed)} checks did not hold")
