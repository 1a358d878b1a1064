"""Operator commands for follow-ups and the do-not-call list."""

from __future__ import annotations

import asyncio
import json

import pytest
from test_sender import intent

from receiver.store.sqlite.store import SQLiteStore


def _seed(db_path) -> str:
    async def run() -> str:
        store = SQLiteStore(str(db_path))
        await store.open()
        key = await intent(store)
        await store.close()
        return key

    return asyncio.run(run())


def test_follow_ups_list_show_cancel_release(cli, db_path) -> None:
    """list/show print an intent (number masked in the table); cancel and release change it."""
    key = _seed(db_path)
    [row] = [json.loads(line) for line in cli("follow-ups", "list", "--json").output.splitlines()]
    assert (row["key"], row["status"]) == (key, "pending")
    table = cli("follow-ups", "list").output
    assert "…0123" in table and "+15555550123" not in table
    assert json.loads(cli("follow-ups", "show", key).output)["request"]["agent"]
    assert cli("follow-ups", "release", key).exit_code != 0  # pending: nothing to release
    assert cli("follow-ups", "cancel", key).exit_code == 0
    assert json.loads(cli("follow-ups", "show", key).output)["status"] == "cancelled"
    assert cli("follow-ups", "cancel", key).exit_code != 0
    assert cli("follow-ups", "show", "nope").exit_code != 0


def test_dnc_add_list_remove(cli) -> None:
    """Numbers are stored in E.164; removing an unlisted number fails clearly."""
    assert cli("migrate").exit_code == 0
    added = cli("dnc", "add", "+1 (555) 555-0142", "--reason", "asked")
    assert added.exit_code == 0 and added.output == "added +15555550142\n"
    [row] = [json.loads(line) for line in cli("dnc", "list", "--json").output.splitlines()]
    assert (row["number"], row["reason"]) == ("+15555550142", "asked")
    assert cli("dnc", "remove", "+15555550142").exit_code == 0
    result = cli("dnc", "remove", "+15555550142")
    assert result.exit_code != 0 and "not on the list" in result.output


def test_dnc_add_reads_national_numbers_in_the_default_region(cli) -> None:
    """With RECEIVER_DEFAULT_REGION=US, 555-555-0142 is listed as +15555550142; another
    spelling of it removes it."""
    assert cli("migrate").exit_code == 0
    us = {"RECEIVER_DEFAULT_REGION": "us"}
    assert cli("dnc", "add", "555-555-0142", env=us).output == "added +15555550142\n"
    assert cli("dnc", "list", env=us).output.startswith("+15555550142\t")
    assert cli("dnc", "remove", "(555) 555 0142", env=us).exit_code == 0


@pytest.mark.parametrize(
    ("number", "says"),
    [("555-555-0142", "RECEIVER_DEFAULT_REGION"), ("call me maybe", "not a phone number")],
)
def test_dnc_add_refuses_an_unreadable_number(cli, number: str, says: str) -> None:
    """An unreadable number exits 1 with why, and the list stays empty."""
    assert cli("migrate").exit_code == 0
    result = cli("dnc", "add", number)
    assert result.exit_code == 1 and says in result.output and "Traceback" not in result.output
    assert cli("dnc", "list").output == ""
