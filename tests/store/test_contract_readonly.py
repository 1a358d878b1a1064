"""Commands that only read never write, on both backends: no database, folder, file or
table is created, an older schema is a clear error, and only migrate (serve, worker) migrates."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner, Result

from receiver.cli import main as cli_main
from receiver.store.sqlite.schema import VERSIONS

LATEST = len(VERSIONS)
READS = (
    ("events", "list"),
    ("events", "show", "evt_x"),
    ("deliveries", "list"),
    ("follow-ups", "list"),
    ("dnc", "list"),
    ("replay", "--dry-run"),
    ("purge", "--older-than", "1d", "--dry-run"),
)
WRITES = (
    ("dnc", "add", "+15555550123"),
    ("dnc", "remove", "+15555550123"),
    ("follow-ups", "cancel", "k"),
    ("replay", "1"),
    ("purge", "--older-than", "1d"),
)


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli_main, list(args), env={"RECEIVER_DATABASE_URL": url})


async def pg_sql(url: str, query: str) -> list[tuple]:
    pg = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await pg.fetch(query)]
    finally:
        await pg.close()


def test_a_missing_sqlite_database_is_an_error_and_nothing_is_created(tmp_path: Path) -> None:
    """Every command but serve, worker and migrate exits 1 on a database that does not exist,
    and creates neither its folder nor its file."""
    url = f"sqlite:///{tmp_path}/no/such/dir/x.db"
    for args in (*READS, *WRITES, ("migrate", "--status"), ("migrate", "--dry-run")):
        result = run(url, *args)
        assert result.exit_code == 1, (args, result.output)
        assert "no database at" in result.output and "receiver migrate" in result.output
    assert run(url, "handlers").exit_code == 0
    assert list(tmp_path.iterdir()) == []


def test_reading_an_sqlite_database_leaves_its_file_as_it_was(tmp_path: Path) -> None:
    """`events list` on an existing database opens it read-only: its bytes do not change."""
    url = f"sqlite:///{tmp_path}/r.db"
    assert run(url, "migrate").exit_code == 0
    before = (tmp_path / "r.db").read_bytes()
    assert run(url, "events", "list", "--json").exit_code == 0
    assert (tmp_path / "r.db").read_bytes() == before


async def test_an_older_schema_is_an_error_and_changes_nothing(store_url, at_version, sql) -> None:
    """At version 3, reads and writes exit 1 asking for `receiver migrate`; the version stays."""
    await at_version(3)
    for args in (*READS, *WRITES):
        result = await asyncio.to_thread(run, store_url, *args)
        assert result.exit_code == 1, (args, result.output)
        assert "schema version 3" in result.output and "receiver migrate" in result.output
    assert await sql("SELECT max(version) FROM schema_version") == [(3,)]
    assert await sql("SELECT count(*) FROM do_not_call") == [(0,)]


async def test_migrate_status_and_dry_run_tell_and_change_nothing(store_url, at_version, sql):
    """--status prints current, latest and pending; --dry-run lists what it would apply;
    neither changes the database; migrate then applies exactly those."""
    await at_version(3)
    status = await asyncio.to_thread(run, store_url, "migrate", "--status")
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    pending = ", ".join(str(v) for v in range(4, LATEST + 1))
    assert lines[:3] == ["current: 3", f"latest: {LATEST}", f"pending: {pending}"]
    assert lines[3] == "  4: do-not-call and follow-up numbers in E.164"
    dry = await asyncio.to_thread(run, store_url, "migrate", "--dry-run")
    assert dry.output.splitlines()[0] == "would apply 4: do-not-call and follow-up numbers in E.164"
    assert await sql("SELECT max(version) FROM schema_version") == [(3,)]
    done = await asyncio.to_thread(run, store_url, "migrate")
    assert done.output == f"schema version {LATEST} (latest {LATEST})\n"
    again = await asyncio.to_thread(run, store_url, "migrate", "--status")
    assert again.output.splitlines()[2] == "pending: none"


@pytest.mark.postgres
async def test_postgres_reads_create_no_table(pg_url) -> None:
    """A PostgreSQL schema without tables: reads exit 1 and create no schema_version table."""
    result = await asyncio.to_thread(run, pg_url, "events", "list")
    assert result.exit_code == 1 and "has no receiver schema" in result.output
    assert await pg_sql(pg_url, "SELECT to_regclass('schema_version') IS NULL") == [(True,)]


@pytest.mark.postgres
async def test_a_read_only_postgres_role_can_inspect(pg_url) -> None:
    """A role that may only SELECT lists events, deliveries and the do-not-call list; a write
    command is refused by the database, cleanly."""
    assert (await asyncio.to_thread(run, pg_url, "migrate")).exit_code == 0
    schema = pg_url.rsplit("search_path=", 1)[1]
    role = f"ro_{secrets.token_hex(4)}"
    await pg_sql(pg_url, f"CREATE ROLE {role} LOGIN")
    try:
        await pg_sql(pg_url, f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
        await pg_sql(pg_url, f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {role}')
        url = pg_url.replace("postgresql://postgres@", f"postgresql://{role}@")
        for args in READS:
            if args[:2] != ("events", "show"):
                result = await asyncio.to_thread(run, url, *args)
                assert result.exit_code == 0, (args, result.output)
        refused = await asyncio.to_thread(run, url, "dnc", "add", "+15555550123")
        assert refused.exit_code == 1 and "permission denied" in refused.output
        assert "Traceback" not in refused.output
    finally:
        pg = await asyncpg.connect(pg_url)
        try:
            await pg.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM {role}')
            await pg.execute(f'REVOKE ALL ON SCHEMA "{schema}" FROM {role}')
            await pg.execute(f"DROP ROLE {role}")
        finally:
            await pg.close()
