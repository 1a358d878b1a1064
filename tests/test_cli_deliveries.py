"""Operator commands: handlers, deliveries list/show, replay with dry-run and filters."""

from __future__ import annotations

import asyncio
import json
import time

from receiver.store.records import DeliveryFilter, Finish, NewEvent
from receiver.store.sqlite.store import SQLiteStore


def _seed_dead(db_path, handlers=("t.a", "t.b"), count=3) -> None:
    """Store ``count`` events, each with one delivery per handler, and kill every delivery."""

    async def run() -> None:
        store = SQLiteStore(str(db_path))
        await store.open()
        for n in range(count):
            kind = "event_message" if n % 2 == 0 else "event_action"
            envelope = json.dumps({"type": kind, "call_id": f"c{n}", "payload": {}})
            await store.add_event(
                NewEvent(f"evt_{n}", f"k{n}", kind, f"c{n}", time.time(), "POST", "{}",
                         envelope, envelope.encode(), handlers)
            )  # fmt: skip
        slots = dict.fromkeys(handlers, 100)
        for claimed in await store.claim(slots, frozenset(), dict.fromkeys(handlers, 60.0)):
            await store.finish(Finish(claimed.id, claimed.attempt, "dead", error="boom"))
        await store.close()

    asyncio.run(run())


def _statuses(db_path) -> dict[int, tuple[str, bool]]:
    async def run():
        store = SQLiteStore(str(db_path))
        await store.open()
        rows = await store.list_deliveries(DeliveryFilter())
        await store.close()
        return {r.id: (r.status, r.side_effects) for r in rows}

    return asyncio.run(run())


def test_handlers_lists_what_is_loaded(cli) -> None:
    """`receiver handlers` prints each loaded handler with its types and options."""
    result = cli("handlers", "--json")
    assert result.exit_code == 0
    [row] = [json.loads(line) for line in result.output.splitlines()]
    assert row["handler"] == "log.events" and row["types"] == ["*"]
    assert row["source"] == "handlers.log:router"


def test_handlers_reports_an_import_failure(cli) -> None:
    """A handler module that fails to import makes `receiver handlers` fail with the error."""
    result = cli("handlers", env={"RECEIVER_HANDLERS": "nope_nope:router"})
    assert result.exit_code != 0
    assert "nope_nope" in result.output and "ModuleNotFoundError" in result.output


def test_deliveries_list_and_show(cli, db_path) -> None:
    """`deliveries list` filters by status and handler; `show` prints one with its error."""
    _seed_dead(db_path)
    result = cli("deliveries", "list", "--status", "dead", "--handler", "t.a", "--json")
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 3 and {r["handler"] for r in rows} == {"t.a"}
    shown = json.loads(cli("deliveries", "show", str(rows[0]["id"])).output)
    assert shown["last_error"] == "boom" and shown["status"] == "dead"
    assert cli("deliveries", "show", "999").exit_code != 0


def test_replay_dry_run_changes_nothing(cli, db_path) -> None:
    """`replay --dry-run` names what would be replayed and leaves every delivery dead."""
    _seed_dead(db_path)
    result = cli("replay", "--handler", "t.b", "--dry-run")
    assert result.exit_code == 0
    assert "3 deliveries would be replayed" in result.output
    assert {s for s, _ in _statuses(db_path).values()} == {"dead"}


def test_replay_by_filter_and_by_id(cli, db_path) -> None:
    """`replay` requeues dead deliveries matching handler and type, or the ids given."""
    _seed_dead(db_path)
    result = cli("replay", "--handler", "t.a", "--type", "event_message")
    assert "replayed 2 deliveries" in result.output
    statuses = _statuses(db_path)
    assert sorted(s for s, _ in statuses.values()) == ["dead"] * 4 + ["pending"] * 2
    dead_id = next(i for i, (s, _) in statuses.items() if s == "dead")
    result = cli("replay", str(dead_id), "--no-side-effects")
    assert "replayed 1 deliveries (side effects off" in result.output
    assert _statuses(db_path)[dead_id] == ("pending", False)


def test_replay_time_filters(cli, db_path) -> None:
    """--since excludes older deliveries; a bad time value is refused with its format."""
    _seed_dead(db_path)
    assert "0 deliveries would be replayed" in cli("replay", "--until", "1h", "--dry-run").output
    assert "6 deliveries would be replayed" in cli("replay", "--since", "1h", "--dry-run").output
    result = cli("replay", "--since", "yesterday")
    assert result.exit_code != 0 and "expected e.g. 2h" in result.output


def test_replay_of_an_unknown_id_exits_1_naming_it_and_replays_nothing(cli, db_path) -> None:
    """`receiver replay 1 999 998` exits 1 naming 998 and 999; delivery 1 stays dead."""
    _seed_dead(db_path, handlers=("t.a",), count=1)
    result = cli("replay", "1", "999", "998")
    assert result.exit_code == 1
    assert "no delivery 998, 999; nothing was replayed" in result.output
    assert _statuses(db_path) == {1: ("dead", True)}
    assert cli("replay", "1").output == "replayed 1 deliveries\n"
