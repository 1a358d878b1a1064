"""The bad-input catalogue: one request per class of bad input, over a raw socket, to a real
``receiver serve``; each must get its answer, none a 5xx, and nothing of it may be stored.

Classes cover the body (JSON, values no store can keep, sizes), the query of a GET, the
head (size, time, syntax), authentication and the secrets a proxy copies into headers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench.reliability.proc import TOKEN
from bench.reliability.wire import HOOK, event, exchange, get, post

E = b'{"type":"event_message","call_id":"c%d","payload":%s}'
Send = Callable[[int], Awaitable[int | None]]


@dataclass(frozen=True)
class Case:
    name: str
    expected: int
    send: Send
    stored: bool = False  # a 202 that must be stored (and checked for secrets)


def raw(data: bytes) -> Send:
    return lambda port: exchange(port, data)


def body(payload: str, n: int) -> Send:
    return raw(post(E % (n, payload.encode())))


def slow(data: bytes) -> Send:
    """Send ``data`` and nothing more: the server must answer within its request timeout."""
    return lambda port: exchange(port, data, timeout=60)


def body_at(field: str, value: str) -> Send:
    """An envelope whose ``field`` is the JSON ``value``."""
    envelope = {"type": "event_message", "call_id": "c", "payload": {}}
    text = json.dumps({**envelope, field: "@"}).replace('"@"', value)
    return raw(post(text.encode()))


BIG_HEADER = "X-Big: " + "b" * (1 << 20) + "\r\n"
CHUNKED = "Transfer-Encoding: chunked\r\n"


def chunked_past_the_limit(port: int) -> Awaitable[int | None]:
    head = (
        f"POST {HOOK} HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"%x\r\n" % (1 << 20) + b" " * (1 << 20) + b"\r\n"
    return exchange(port, head + chunk * 2)


PROXY = (
    f"X-Original-URL: {HOOK}\r\nX-Forwarded-Uri: {HOOK}?a=1\r\n"
    f"Referer: https://hooks.example.com{HOOK}\r\nX-Forwarded-Authorization: Bearer {TOKEN}\r\n"
    f"X-Auth-Token: {TOKEN}\r\n"
)

CASES = [
    Case("body: not JSON", 400, raw(post(b"{"))),
    Case("body: empty", 400, raw(post(b""))),
    Case("body: invalid UTF-8", 400, raw(post(b'{"type":"\xff"}'))),
    Case("body: a JSON array", 422, raw(post(b"[1,2]"))),
    Case("body: a JSON string", 422, raw(post(b'"event"'))),
    Case("envelope: no type", 422, raw(post(b'{"call_id":"c1","payload":{}}'))),
    Case("envelope: no call id", 422, raw(post(b'{"type":"event_message","payload":{}}'))),
    Case("envelope: type a number", 422, raw(post(b'{"type":7,"call_id":"c","payload":{}}'))),
    Case("envelope: type a list", 422, raw(post(b'{"type":[1],"call_id":"c","payload":{}}'))),
    Case("envelope: call id of 201 chars", 422, raw(post(event("c" * 201)))),
    Case("JSON nested 10,000 deep", 400, body("[" * 10_000 + "]" * 10_000, 1)),
    Case("value: NaN", 400, body('{"x":NaN}', 2)),
    Case("value: Infinity", 400, body('{"x":-Infinity}', 3)),
    Case("value: 1e400 (beyond a float)", 400, body('{"timestamp":1e400}', 4)),
    Case("value: an integer of 5,000 digits", 400, body('{"x":' + "9" * 5000 + "}", 5)),
    Case("value: NUL in call_id", 400, body_at("call_id", '"\\u0000"')),
    Case("value: NUL in type", 400, body_at("type", '"a\\u0000"')),
    Case("value: NUL in a payload string", 400, body('{"text":"a\\u0000"}', 6)),
    Case("value: a lone surrogate", 400, body('{"text":"\\ud800"}', 7)),
    Case("value: a raw control byte in a string", 400, body('{"text":"a\x01b"}', 8)),
    Case("GET: payload.a.a.… 256 deep", 400, raw(get(
        "type=event_message&call_id=c9&payload." + ".".join(["a"] * 256) + "=1"))),
    Case("GET: query not UTF-8", 400, raw(get("type=event_message&call_id=%ff&payload={}"))),
    Case("GET: NUL in the query", 400, raw(get("type=event_message&call_id=c%00&payload={}"))),
    Case("GET: payload not JSON", 400, raw(get("type=event_message&call_id=c&payload={"))),
    Case("GET: payload a JSON list and fields", 400, raw(get(
        "type=event_message&call_id=c&payload=[1]&payload.x=1"))),
    Case("media type: text/plain", 415, raw(post(event("c10")).replace(
        b"application/json", b"text/plain"))),
    Case("size: Content-Length of 64 MiB", 413, raw(post(b"", length=64 << 20))),
    Case("size: a chunked body past the limit", 413, chunked_past_the_limit),
    Case("head: a 1 MiB header", 431, raw(post(event("c11"), headers=BIG_HEADER))),
    Case("head: 20,000 small headers", 431, raw(post(event("c12"), headers="X-A: 1\r\n" * 20_000))),
    Case("head: never ends (slow)", 408, slow(f"POST {HOOK} HTTP/1.1\r\nHost: r\r\n".encode())),
    Case("body: shorter than its length (slow)", 408, slow(post(event("c13"), length=4096))),
    Case("HTTP: not a request line", 400, raw(b"\x16\x03\x01 hello\r\n\r\n")),
    Case("HTTP: Content-Length with chunked", 400, raw(post(event("c14"), headers=CHUNKED))),
    Case("auth: wrong token", 401, raw(post(event("c15"), path="/webhooks/vocode/wrong-token-0"))),
    Case("method: PUT", 405, raw(post(event("c16")).replace(b"POST", b"PUT", 1))),
    Case("dedup: Idempotency-Key of 201 chars", 422, raw(post(
        event("c17"), headers="Idempotency-Key: " + "k" * 201 + "\r\n"))),
    Case("secrets: token in 5 proxy headers", 202, raw(post(event("c-proxy"), headers=PROXY)),
         stored=True),
]


@dataclass
class CatalogueResult:
    classes: int
    as_expected: int
    server_errors: int
    stored_wrongly: int  # refused but stored, or stored with a secret
    misses: list[str]


async def run_catalogue(
    port: int, stored_events: Callable[[], Awaitable[list[dict[str, Any]]]]
) -> CatalogueResult:
    """Send every case (the slow ones together); then read what the store holds."""
    statuses = await asyncio.gather(*(case.send(port) for case in CASES))
    misses = [
        f"{case.name}: {status} (expected {case.expected})"
        for case, status in zip(CASES, statuses, strict=True)
        if status != case.expected
    ]
    events = await stored_events()
    wanted = sum(case.stored for case in CASES)
    leaked = sum(TOKEN in json.dumps(e) for e in events)
    return CatalogueResult(
        classes=len(CASES),
        as_expected=len(CASES) - len(misses),
        server_errors=sum(1 for s in statuses if s is not None and s >= 500),
        stored_wrongly=abs(len(events) - wanted) + leaked,
        misses=misses,
    )
