"""``receiver send TYPE``: post a sample event to a running receiver, like ``stripe trigger``."""

from __future__ import annotations

import json
import sys
from http import HTTPStatus
from typing import Any

import click
import httpx
from rich.console import Console
from rich.json import JSON

from receiver.events import EVENT_TYPES
from receiver.vocode.fake.samples import load_sample


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def set_field(payload: dict[str, Any], assignment: str) -> None:
    """Apply ``key=value`` to ``payload``; a dotted key reaches into nested objects."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise click.BadParameter(f"expected KEY=VALUE, got {assignment!r}", param_hint="--field")
    *parents, leaf = key.split(".")
    target = payload
    for part in parents:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[leaf] = _value(raw)


def build_event(
    type_: str, fields: tuple[str, ...], call_id: str | None, self_hosted: bool = False
) -> dict[str, Any]:
    """The sample of ``type_`` with ``fields`` applied to its payload; with ``self_hosted``,
    as the open-source library posts it: flat, and ``event_transcript`` as one utterance."""
    utterance = self_hosted and type_ == "event_transcript"
    event = load_sample("event_transcript_utterance" if utterance else type_)
    for assignment in fields:
        set_field(event["payload"], assignment)
    if call_id:
        event["call_id"] = call_id
    if self_hosted:
        return {"type": event["type"], "conversation_id": event["call_id"], **event["payload"]}
    return event


def _default_url() -> str:
    from receiver.cli.common import settings_or_exit
    from receiver.cli.serve import webhook_url

    settings = settings_or_exit()
    return webhook_url(settings, settings.host, settings.port)


def deliver(
    url: str, event: dict[str, Any], *, as_get: bool, headers: dict[str, str], timeout: float
) -> httpx.Response:
    with httpx.Client(timeout=timeout, headers=headers) as http:
        if as_get:
            params = {
                "type": event["type"],
                "call_id": event["call_id"],
                "payload": json.dumps(event["payload"], separators=(",", ":")),
            }
            return http.get(url, params=params)
        return http.post(url, json=event)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _headers(values: tuple[str, ...]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME:VALUE, got {value!r}", param_hint="--header")
        headers[name.strip()] = content.strip()
    return headers


@click.command()
@click.argument("event_type", metavar="TYPE", type=click.Choice(EVENT_TYPES))
@click.option(
    "--url",
    default=None,
    help="The receiver's webhook URL, token included. Default: the local `receiver serve` "
    "built from RECEIVER_HOST, RECEIVER_PORT, RECEIVER_WEBHOOK_PATH and the first token.",
)
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a payload field (repeatable). Dotted keys reach into objects; VALUE is read "
    "as JSON when it parses (numbers, true, null, {...}), else as text.",
)
@click.option("--call-id", default=None, help="Use this call id instead of the sample's.")
@click.option("--get", "as_get", is_flag=True, help="Deliver as a GET with query parameters.")
@click.option(
    "--self-hosted",
    is_flag=True,
    help="Post it as the self-hosted library does: flat (conversation_id and the fields at "
    "the top level); event_transcript as one utterance.",
)
@click.option("--header", "headers", multiple=True, metavar="NAME:VALUE", help="Extra header.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait.")
@click.option("--print-body", is_flag=True, help="Print the event sent, too.")
def send(
    event_type: str,
    url: str | None,
    fields: tuple[str, ...],
    call_id: str | None,
    as_get: bool,
    self_hosted: bool,
    headers: tuple[str, ...],
    timeout: float,
    print_body: bool,
) -> None:
    """Post a sample event of type TYPE to a running receiver and print its answer.

    Exits 1 when the answer is not a success (2xx) or the receiver cannot be reached.
    """
    if as_get and self_hosted:
        raise click.UsageError("--self-hosted posts JSON, as the library does: drop --get")
    event = build_event(event_type, fields, call_id, self_hosted)
    console = Console(highlight=False)
    if print_body:
        console.print(JSON.from_data(event))
    try:
        response = deliver(
            url or _default_url(), event, as_get=as_get, headers=_headers(headers), timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"could not deliver {event_type}: {exc!r}") from None
    phrase = _phrase(response.status_code)
    style = "green" if response.is_success else "red"
    method = "GET" if as_get else "POST"
    console.print(f"[{style}]{response.status_code} {phrase}[/] {method} {event_type}")
    try:
        console.print(JSON.from_data(response.json()))
    except ValueError:
        console.print(response.text)
    if not response.is_success:
        sys.exit(1)
