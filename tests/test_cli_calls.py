"""`receiver calls list|show`: the calls the receiver knows, read-only."""

from __future__ import annotations

import asyncio
import json

from receiver.calls.synthesize import terminal_event
from receiver.intake.dedup import canonical, terminal_key
from receiver.store.call_records import Lookup
from receiver.store.records import NewEvent
from receiver.store.sqlite.store import SQLiteStore
from receiver.vocode.models import Call


def _event(n: int, call_id: str, kind: str = "event_message") -> NewEvent:
    envelope = {"type": kind, "call_id": call_id, "payload": {}}
    key = terminal_key(kind, call_id) if kind != "event_message" else f"s:{n}"
    return NewEvent(
        f"evt_{n:04d}", key, kind, call_id, 1_700_000_000.0 + n, "POST", "{}",
        canonical(envelope), b"{}",
    )  # fmt: skip


def _seed(db_path) -> str:
    """Two calls: one that ended, one whose ended event was synthesised; the latter's id."""

    async def run() -> str:
        store = SQLiteStore(str(db_path))
        await store.open()
        await store.add_event(_event(1, "c-ended"))
        await store.add_event(_event(2, "c-ended", "event_phone_call_ended"))
        await store.add_event(_event(3, "c-lost"))
        [item] = await store.claim_calls(1, 60.0, after=0.0)
        call = Call(id="c-lost", status="ended", stage="picked_up")
        event, _ = terminal_event(call, "event_phone_call_ended", now=1.8e9, route=lambda e: ())
        lookup = Lookup("c-lost", item.attempt, "synthesized", "ended", "ended", event=event)
        await store.record_lookup(lookup)
        await store.close()
        return event.id

    return asyncio.run(run())


def test_calls_list_and_show(cli, db_path) -> None:
    """list shows each call's status and stage (newest first; --status filters); show gives
    one call with its events, the synthesised one marked with its source."""
    synthesized = _seed(db_path)
    rows = [json.loads(line) for line in cli("calls", "list", "--json").output.splitlines()]
    assert [(r["call_id"], r["status"], r["stage"]) for r in rows] == [
        ("c-lost", "synthesized", "ended"), ("c-ended", "ended", "ended"),
    ]  # fmt: skip
    only = cli("calls", "list", "--status", "synthesized", "--json").output.splitlines()
    assert [json.loads(line)["call_id"] for line in only] == ["c-lost"]
    table = cli("calls", "list").output
    assert "c-lost" in table and "synthesized" in table
    shown = json.loads(cli("calls", "show", "c-lost").output)
    assert (shown["terminal_event_id"], shown["lookups"]) == (synthesized, 1)
    assert [(e["type"], bool(e["synthesized"])) for e in shown["event_list"]] == [
        ("event_message", False), ("event_phone_call_ended", True),
    ]  # fmt: skip
    assert shown["event_list"][1]["synthesized"]["source"] == "GET /v1/calls"
    missing = cli("calls", "show", "nobody")
    assert missing.exit_code == 1 and "no call nobody" in missing.output


def test_handlers_lists_enrich(cli, monkeypatch) -> None:
    """`receiver handlers --json` says which handlers ask for the Call."""
    result = cli("handlers", "--json", env={"RECEIVER_HANDLERS": "handlers.callback:router"})
    rows = {json.loads(line)["handler"]: json.loads(line) for line in result.output.splitlines()}
    assert rows["callback.call_back_unanswered"]["enrich"] is True
