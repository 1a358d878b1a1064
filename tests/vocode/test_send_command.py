"""``receiver send``: sample events posted to a real receiver, like ``stripe trigger``."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from click.testing import Result

from receiver.cli.send import build_event
from receiver.events import EVENT_TYPES


def stored(cli: Callable[..., Result], call_id: str) -> list[dict]:
    result = cli("events", "list", "--call-id", call_id, "--json")
    return [json.loads(line) for line in result.output.splitlines()]


def test_every_event_type_is_accepted(cli: Callable[..., Result], receiver_url: str) -> None:
    """Each sample type, posted to a real receiver, is answered 202 and stored, not quarantined."""
    for i, event_type in enumerate(EVENT_TYPES):
        result = cli("send", event_type, "--url", receiver_url, "--call-id", f"call-{i}")
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"202 Accepted POST {event_type}")
        assert '"id": "evt_' in result.output
        assert [(e["type"], e["quarantined"]) for e in stored(cli, f"call-{i}")] == [
            (event_type, False)
        ]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_self_hosted_sends_the_library_shape(
    cli: Callable[..., Result], receiver_url: str, event_type: str
) -> None:
    """--self-hosted posts flat (conversation_id, fields on top; a transcript as one
    utterance); the receiver stores it typed, in the hosted envelope."""
    body = build_event(event_type, (), "c-self", self_hosted=True)
    assert body["conversation_id"] == "c-self" and "payload" not in body
    if event_type == "event_transcript":
        assert set(body) == {"type", "conversation_id", "text", "sender", "timestamp"}
    args = ("send", event_type, "--self-hosted", "--url", receiver_url, "--call-id", "c-self")
    result = cli(*args, "--print-body")
    assert result.exit_code == 0 and "202 Accepted POST" in result.output, result.output
    [event] = stored(cli, "c-self")
    shown = json.loads(cli("events", "show", event["id"]).output)
    assert shown["quarantined"] is False and "payload" in shown["envelope"]
    assert cli("send", event_type, "--self-hosted", "--get", "--url", receiver_url).exit_code == 2


def test_fields_override_the_sample(cli: Callable[..., Result], receiver_url: str) -> None:
    """--field sets payload fields (JSON when it parses); the receiver stores those values."""
    result = cli(
        "send",
        "event_message",
        "--url",
        receiver_url,
        "--call-id",
        "c-fields",
        "--field",
        "text=hello there",
        "--field",
        "timestamp=12.5",
    )
    assert result.exit_code == 0, result.output
    (event,) = stored(cli, "c-fields")
    shown = cli("events", "show", event["id"])
    envelope = json.loads(shown.output)["envelope"]
    assert envelope["payload"]["text"] == "hello there"
    assert envelope["payload"]["timestamp"] == 12.5


def test_get_delivery_and_duplicate(cli: Callable[..., Result], receiver_url: str) -> None:
    """--get delivers in query parameters (202); the same event again is a duplicate (200)."""
    args = ("send", "event_human_detection", "--get", "--url", receiver_url, "--call-id", "c-get")
    first, second = cli(*args), cli(*args)
    assert first.output.startswith("202 Accepted GET"), first.output
    assert second.output.startswith("200 OK GET"), second.output
    assert '"duplicate": true' in second.output
    assert second.exit_code == 0


def test_refusal_exits_non_zero(cli: Callable[..., Result], receiver_url: str) -> None:
    """A refused delivery (wrong token: 401) prints the answer and exits 1."""
    wrong = receiver_url.rsplit("/", 1)[0] + "/not-the-token-0000000000"
    result = cli("send", "event_message", "--url", wrong)
    assert result.exit_code == 1
    assert result.output.startswith("401 Unauthorized")


def test_default_url_comes_from_settings(
    cli: Callable[..., Result], receiver_url: str, token: str
) -> None:
    """Without --url, the local receiver is found from RECEIVER_HOST/PORT and the first token."""
    port = str(urlsplit(receiver_url).port)
    result = cli("send", "event_transcript", env={"RECEIVER_PORT": port, "RECEIVER_TOKENS": token})
    assert result.exit_code == 0, result.output
    assert result.output.startswith("202 Accepted")


def test_unreachable_receiver_is_a_clean_error(cli: Callable[..., Result], free_port: int) -> None:
    """No receiver listening: one error line and a non-zero exit, no traceback."""
    result = cli("send", "event_message", "--url", f"http://127.0.0.1:{free_port}/hook")
    assert result.exit_code == 1
    assert "could not deliver event_message" in result.output


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("text=42", 42),
        ('text="42"', "42"),
        ("text=plain words", "plain words"),
        ("text=null", None),
    ],
)
def test_field_values_are_json_when_they_parse(assignment: str, expected: object) -> None:
    """A --field value is JSON when valid (quote it to force text), else the text itself."""
    assert build_event("event_message", (assignment,), None)["payload"]["text"] == expected


def test_dotted_fields_reach_into_objects() -> None:
    """A dotted key sets a nested payload field, creating objects on the way."""
    event = build_event("event_action", ("action_input.params.slot=9am", "extra.a.b=1"), "c1")
    assert event["payload"]["action_input"]["params"] == {"slot": "9am"}
    assert event["payload"]["extra"] == {"a": {"b": 1}}
    assert event["call_id"] == "c1"
