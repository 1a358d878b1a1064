"""Operator commands for follow-ups and the do-not-call list."""

from __future__ import annotations

import asyncio
import json

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
    """Numbers are stored normalised; removing an unlisted number fails clearly."""
    assert cli("dnc", "add", "+1 (555) 555-0142", "--reason", "asked").exit_code == 0
    [row] = [json.loads(line) for line in cli("dnc", "list", "--json").output.splitlines()]
    assert (row["number"], row["reason"]) == ("+15555550142", "asked")
    assert cli("dnc", "remove", "+15555550142").exit_code == 0
    result = cli("dnc", "remove", "+15555550142")
    assert result.exit_code != 0 and "not on the list" in result.output
