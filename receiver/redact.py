"""What never reaches a log line: secrets always; phone numbers and call content by default.

:class:`Redactor` is a structlog processor. It runs last before rendering, on every line,
ours and the libraries' alike, after tracebacks have been formatted to text, so it sees
everything that will be written.

- Secrets, always: values under secret-like keys (``token``, ``api_key``, ``authorization``,
  ...), ``Bearer``/``Basic`` credentials, ``key=value`` and ``"key": "value"`` pairs inside
  strings, the configured secret values themselves (webhook tokens, the metrics token, the
  Vocode API key), the token segment of the webhook path, passwords in URLs.
- Content, unless ``RECEIVER_LOG_PII=true``: values under ``text``, ``transcript`` and
  ``recording_url`` (as keys, or as pairs inside strings), recording file URLs, and phone
  numbers (E.164, grouped national numbers, and any run of 10 to 15 digits), which keep
  their last 4 digits: ``+15555550123`` becomes ``+*******0123``.

Example::

    redact = Redactor(secrets=["s3cret-token-value"])
    redact.text("call +15555550123 token=abc")  # 'call +*******0123 token=[redacted]'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[redacted]"

SECRET_KEYS = frozenset(
    {
        "token",
        "tokens",
        "api_key",
        "apikey",
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "x_api_key",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "access_token",
        "refresh_token",
        "private_key",
        "signature",
        "webhook_signature",
    }
)
SECRET_SUFFIXES = ("_token", "_tokens", "_secret", "_api_key", "_password")
CONTENT_KEYS = frozenset({"text", "transcript", "recording_url", "input_value"})
_KEEP = frozenset({"timestamp", "level", "logger", "logger_name"})
_MAX_DEPTH = 8

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_PHONE = re.compile(
    rf"(?P<uuid>{_UUID})"  # call ids: kept whole, even when a group is all digits
    r"|(?P<e164>\+[1-9]\d{6,14})(?!\d)"
    r"|(?<![0-9A-Za-z+])(?P<grouped>(?:\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4})"
    r"(?![0-9A-Za-z])"
    r"|(?<![0-9A-Za-z])(?P<run>\d{10,15})(?![0-9A-Za-z])"
)
_WORD = re.compile(r"[\w.\-]*")
_TEN_DIGITS = re.compile(r"\d{10}")
_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_URL_PASSWORD = re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+@")
_RECORDING_URL = re.compile(
    r"(?i)https?://[^\s\"'<>]+?\.(?:wav|mp3|ogg|oga|m4a|flac|webm|aac)(?:\?[^\s\"'<>]*)?\b"
)


def _pairs(keys: Iterable[str]) -> re.Pattern[str]:
    """``key=value``, ``key: value``, ``"key": "value"`` and ``'key': '...'`` inside text."""
    names = "|".join(sorted((re.escape(k) for k in keys), key=len, reverse=True))
    return re.compile(
        rf"(?i)(?<![\w-])(?P<q>[\"']?)(?P<key>{names})(?P=q)(?P<sep>\s*[:=]\s*)"
        r"(?P<value>\[redacted\]|(?:(?:bearer|basic)\s+)?"
        r"(?:\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,;&)}\]\"']+))"
    )


def _pair_replacement(match: re.Match[str]) -> str:
    value = match["value"]
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match['q']}{match['key']}{match['q']}{match['sep']}{quote}{REDACTED}{quote}"


def mask_phone(number: str) -> str:
    """Every digit but the last 4 becomes ``*``; signs and separators stay."""
    digits = sum(c.isdigit() for c in number)
    out, seen = [], 0
    for c in number:
        if c.isdigit():
            seen += 1
            out.append(c if seen > digits - 4 else "*")
        else:
            out.append(c)
    return "".join(out)


def _mask_match(match: re.Match[str]) -> str:
    return match[0] if match["uuid"] else mask_phone(match[0])


def _normal(key: object) -> str:
    return str(key).lower().replace("-", "_")


def is_secret_key(key: object) -> bool:
    name = _normal(key)
    return name in SECRET_KEYS or name.endswith(SECRET_SUFFIXES)


class Redactor:
    """A structlog processor that redacts every value of every line (see the module doc)."""

    def __init__(
        self,
        *,
        pii: bool = False,
        secrets: Iterable[str | None] = (),
        webhook_path: str | None = None,
    ) -> None:
        self.pii = pii
        self._drop = SECRET_KEYS if pii else SECRET_KEYS | CONTENT_KEYS
        self._pairs = _pairs(self._drop)
        known = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, known))) if known else None
        path = (webhook_path or "").rstrip("/")
        self._path = re.compile(re.escape(path) + r"/[^/\s?#\"'<>]+") if path else None
        self._dropped_keys: dict[object, bool] = {}  # key -> redact its value (a cache)
        self._texts: dict[str, str] = {}  # short value -> its redacted form (a bounded cache)

    def __call__(self, logger: object, method_name: str, event_dict: Any) -> Any:
        if not isinstance(event_dict, dict):
            return event_dict
        # What _value does, unrolled for the values of nearly every line (ids, names,
        # outcomes, numbers): a line is redacted on every log call.
        out = {}
        dropped_keys, texts = self._dropped_keys, self._texts
        for key, value in event_dict.items():
            kind = value.__class__
            if key in _KEEP:
                out[key] = value
            elif dropped_keys.get(key, True) is not False:  # unknown yet, or dropped
                out[key] = self._value(key, value, 0)
            elif kind is str:
                cached = texts.get(value)
                out[key] = cached if cached is not None else self.text(value)
            elif value is None or kind is bool or kind is float:
                out[key] = value
            else:
                out[key] = self._value(key, value, 0)
        return out

    def text(self, value: str) -> str:
        """``value`` with every secret (and, unless ``pii``, every phone number) redacted."""
        cached = self._texts.get(value)
        if cached is not None:  # methods, outcomes, logger and event names repeat on every line
            return cached
        redacted = self._text(value)
        if len(value) <= 64:
            if len(self._texts) >= 4096:
                self._texts.clear()
            self._texts[value] = redacted
        return redacted

    def _text(self, value: str) -> str:
        if self._secrets is not None:
            value = self._secrets.sub(REDACTED, value)
        if _WORD.fullmatch(value) and not _TEN_DIGITS.search(value):
            return value  # one word, no long digit run: nothing else can match (the common case)
        if self._path is not None:
            value = self._path.sub(lambda m: m[0][: m[0].rindex("/") + 1] + REDACTED, value)
        value = self._pairs.sub(_pair_replacement, value)
        value = _CREDENTIALS.sub(lambda m: f"{m[1]} {REDACTED}", value)
        value = _URL_PASSWORD.sub(REDACTED + "@", value)
        if not self.pii:
            value = _RECORDING_URL.sub(REDACTED, value)
            value = _PHONE.sub(_mask_match, value)
        return value

    def _drops(self, key: object) -> bool:
        dropped = self._dropped_keys.get(key)
        if dropped is None:
            dropped = _normal(key) in self._drop or is_secret_key(key)
            if len(self._dropped_keys) < 10_000:
                self._dropped_keys[key] = dropped
        return dropped

    def _value(self, key: object, value: Any, depth: int) -> Any:
        if key is not None and self._drops(key):
            return REDACTED if value is not None else None
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int):
            if self.pii or not 10 <= len(str(abs(value))) <= 15:
                return value
            return self.text(str(value))
        if depth >= _MAX_DEPTH:
            return REDACTED
        if isinstance(value, Mapping):
            return {k: self._value(k, v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._value(None, v, depth + 1) for v in value]
        if isinstance(value, bytes | bytearray):
            return self.text(bytes(value).decode("utf-8", "replace"))
        dump = getattr(value, "model_dump", None)  # pydantic models: by field, not by repr
        if callable(dump):
            try:
                return self._value(key, dump(mode="json"), depth + 1)
            except Exception:
                pass
        return self.text(str(value))
