"""What the console shows of stored things, by the same rule as the logs.

Secrets never: webhook, console and metrics tokens, the Vocode API key and signing secrets
are redacted wherever they appear. Phone numbers are masked to their last 4 digits and
message texts, transcripts and recording URLs hidden, unless ``RECEIVER_CONSOLE_PII=true``
(or ``RECEIVER_LOG_PII=true``); every page says when they are hidden.

Example::

    view = Presenter(settings)
    view.summary(record)   # {"id": ..., "line": "human: [redacted]", ...}
"""

from __future__ import annotations

import json
from typing import Any

from receiver.redact import REDACTED, Redactor, mask_phone
from receiver.settings import Settings
from receiver.store.records import EventRecord
from receiver.times import clock, iso


class Presenter:
    """Turns records into what a page may show (see the module doc)."""

    def __init__(self, settings: Settings) -> None:
        self.pii = settings.show_pii
        key = settings.vocode_api_key
        secrets = [
            *settings.tokens,
            *settings.console_tokens,
            *settings.signing_secrets,
            settings.metrics_token,
            key.get_secret_value() if key is not None else None,
        ]
        self._redactor = Redactor(
            pii=self.pii, secrets=secrets, webhook_path=settings.webhook_path
        )

    def phone(self, number: str | None) -> str:
        """A phone number, masked unless PII is shown."""
        if number is None:
            return ""
        return self._redactor.text(number if self.pii else mask_phone(number))

    def text(self, value: str | None) -> str:
        """Free text (an error, a reason): secrets redacted, numbers masked unless PII."""
        return "" if value is None else self._redactor.text(value)

    def content(self, value: Any) -> str | None:
        """Call content (a message's words, a transcript, a URL): None when it is hidden."""
        if value is None or not self.pii:
            return None
        return self._redactor.text(value if isinstance(value, str) else json.dumps(value))

    def data(self, value: Any) -> Any:
        """A JSON value with every secret, and unless PII every number and text, redacted."""
        return self._redactor(None, "", {"value": value})["value"]

    def pretty(self, value: Any) -> str:
        """:meth:`data`, as indented JSON for a ``<pre>``."""
        return json.dumps(self.data(value), indent=2, ensure_ascii=False)

    def raw(self, event: EventRecord) -> str:
        """The stored body (or query string), redacted as text."""
        return self.text(event.raw.decode("utf-8", errors="replace"))

    def summary(self, event: EventRecord) -> dict[str, Any]:
        """One line about an event, as the lists and the live tail show it."""
        return {
            "seq": event.seq,
            "id": event.id,
            "type": event.type,
            "call_id": event.call_id,
            "received_at": clock(event.received_at),
            "received_at_iso": iso(event.received_at),
            "quarantined": event.quarantined,
            "line": self.line(event),
        }

    def line(self, event: EventRecord) -> str:
        """What happened, in a few words: who said what, how the call ended, ..."""
        payload = event.envelope.get("payload")
        if not isinstance(payload, dict):
            return ""
        words = self._hidden(payload.get("text"))
        lines = {
            "event_message": lambda: f"{payload.get('sender', '?')}: {words}",
            "event_phone_call_connected": lambda: (
                f"{self.phone(payload.get('from_phone_number'))} → "
                f"{self.phone(payload.get('to_phone_number'))}"
            ),
            "event_phone_call_ended": lambda: f"{payload.get('conversation_minutes', '?')} min",
            "event_phone_call_did_not_connect": lambda: str(payload.get("telephony_status", "")),
            "event_human_detection": lambda: str(payload.get("result", "")),
            "event_recording": lambda: self._hidden(payload.get("recording_url")),
            "event_transcript": lambda: self._transcript(payload),
            "event_action": lambda: _action(payload),
        }
        make = lines.get(event.type)
        return self.text(make()) if make is not None else ""

    def _hidden(self, value: Any) -> str:
        shown = self.content(value)
        return REDACTED if shown is None and value is not None else (shown or "")

    def _transcript(self, payload: dict[str, Any]) -> str:
        text = payload.get("transcript", payload.get("text"))
        if not isinstance(text, str):
            return ""
        shown = self.content(text)
        lines = text.count("\n") + 1
        if shown is None:
            return f"{lines} line{'s' if lines != 1 else ''}"
        return shown.splitlines()[0][:120]


def _action(payload: dict[str, Any]) -> str:
    output = payload.get("action_output")
    if isinstance(output, dict) and output.get("action_type"):
        return str(output["action_type"])
    config = (payload.get("action_input") or {}).get("action_config") or {}
    return str(config.get("type", "")) if isinstance(config, dict) else ""
