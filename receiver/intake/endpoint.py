"""The webhook endpoint: authenticate, bound, decode, validate, deduplicate, store, answer.

A plain ASGI app. It answers 202 only once the event's row is committed, and never runs a
handler itself. Checks run cheapest first, and every rejection is a :class:`RejectedDelivery`
turned into ``{"error": <reason>, "detail": ...}`` in one place (:meth:`Intake.__call__`).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import pydantic_core
import structlog
from pydantic import ValidationError
from starlette.types import Scope

from receiver.errors import RejectedDelivery, StoreError
from receiver.events import EVENT_TYPES, Event, normalise, validate
from receiver.intake.dedup import dedup_key, new_event_id
from receiver.intake.envelope import is_token_pair, media_type_ok, query_envelope
from receiver.intake.headers import StoredHeaders, configured_secrets
from receiver.intake.limits import check_json_values, event_json
from receiver.intake.quarantine import Reading, quarantined
from receiver.intake.signatures import Signatures
from receiver.metrics import Metrics
from receiver.settings import Settings
from receiver.store import NewEvent, Store, Stored
from receiver.tracing import NO_SPAN, NO_TRACING, Span, Tracing

log = structlog.get_logger("receiver.intake")

Route = Callable[[Event], tuple[str, ...]]
_JSON = (b"content-type", b"application/json")


class Intake:
    """ASGI app for ``GET|POST {webhook_path}[/{token}]``."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        metrics: Metrics,
        route: Route | None = None,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.tracing = tracing
        self._prefix = settings.webhook_path.rstrip("/")
        self.route: Route = route or (lambda event: ())
        self._tokens = [token.encode() for token in settings.tokens]
        self._signatures = Signatures(settings.signing_secrets)
        self._open = not self._tokens and not self._signatures and settings.allow_unauthenticated
        self._methods = frozenset(settings.methods)
        self._allow = ", ".join(sorted(self._methods)).encode()
        self._limit = settings.max_body_bytes
        self._ignored = frozenset(EVENT_TYPES) - frozenset(settings.subscriptions)
        self._headers_json = StoredHeaders(configured_secrets(settings))

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not self.tracing.enabled:
            await self._answer(scope, receive, send, NO_SPAN)
            return
        # the route's template, never the path: the path (and the query) may carry the token
        route = f"{self._prefix}/{{token}}" if "token" in scope.get("path_params", {}) else (
            self._prefix or "/"
        )
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope["headers"]
            if key in (b"traceparent", b"tracestate")
        }
        attributes = {"http.request.method": scope["method"], "http.route": route}
        with self.tracing.span(
            f"{scope['method']} {route}", kind="server", headers=carrier, attributes=attributes
        ) as span:
            scope["receiver.span"] = span
            await self._answer(scope, receive, send, span)

    async def _answer(self, scope: Scope, receive: Any, send: Any, span: Span) -> None:
        started = time.perf_counter()
        method = scope["method"]
        try:
            status, answer, outcome = await self._handle(scope, receive, method)
        except RejectedDelivery as exc:
            status, outcome = exc.status, exc.reason
            answer = {"error": exc.reason, "detail": exc.detail}
        except StoreError as exc:
            status, outcome = 503, "unavailable"
            answer = {"error": "unavailable", "detail": "the store is unavailable; retry later"}
            log.error("store_unavailable", error=str(exc))
        except Exception:  # a bug: counted, logged with its traceback, never shown
            status, outcome = 500, "internal"
            answer = {"error": "internal", "detail": None}
            log.exception("internal_error")
        body = json.dumps(answer).encode()
        headers = [_JSON, (b"content-length", str(len(body)).encode())]
        if outcome == "method_not_allowed":
            headers.append((b"allow", self._allow))
        elif outcome == "too_large":  # the rest of the body is never read
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        seconds = time.perf_counter() - started
        self.metrics.request(method, outcome, seconds)
        if span is not NO_SPAN:
            span.set(
                {
                    "http.response.status_code": status,
                    "receiver.outcome": outcome,
                    "receiver.event_id": answer.get("id"),
                    "receiver.event_type": scope.get("receiver.type"),
                }
            )
            if status >= 500:
                span.failed(outcome)
        log.info(  # the one canonical line per request
            "webhook_request",
            method=method,
            status=status,
            outcome=outcome,
            event_id=answer.get("id"),
            type=scope.get("receiver.type"),  # set once the envelope validated
            call_id=scope.get("receiver.call_id"),
            duration_ms=round(seconds * 1000, 2),
        )

    async def _handle(
        self, scope: Scope, receive: Any, method: str
    ) -> tuple[int, dict[str, Any], str]:
        if method not in self._methods:
            raise RejectedDelivery("method_not_allowed", f"use {self._allow.decode()}")
        headers = dict(scope["headers"])
        raw, data = await self._decode(scope, receive, method, headers)
        kind = data.get("type") if isinstance(data, dict) else None
        if isinstance(kind, str) and kind in self._ignored:  # an unhashable type is a 422
            return 200, {"ignored": True}, "ignored"
        reading = self._read(normalise(data))
        scope["receiver.type"], scope["receiver.call_id"] = reading.type, reading.call_id
        key = headers.get(b"webhook-id") or headers.get(b"idempotency-key")
        if key is not None and not 0 < len(key) <= 200:
            raise RejectedDelivery("invalid", "webhook-id / Idempotency-Key: 1 to 200 characters")
        stored = await self._store(
            scope,
            NewEvent(
                id=new_event_id(),
                dedup_key=dedup_key(
                    reading.type, reading.call_id, reading.payload_json,
                    key and key.decode("latin-1"),
                ),
                type=reading.type,
                call_id=reading.call_id,
                received_at=time.time(),
                method=method,
                headers=self._headers_json(scope["headers"]),
                envelope=reading.envelope_json,
                raw=raw,
                handlers=reading.handlers,
                quarantine=reading.quarantine,
            ),
        )  # fmt: skip
        if stored.duplicate:
            return 200, {"id": stored.id, "duplicate": True}, "duplicate"
        self.metrics.stored(reading.type)
        if stored.new_call:
            self.metrics.call_tracked()
        if reading.quarantine is None:
            return 202, {"id": stored.id}, "accepted"
        self.metrics.quarantined(reading.type)
        log.warning("event_quarantined", event_id=stored.id, type=reading.type, at=reading.where)
        return 202, {"id": stored.id, "quarantined": True}, "quarantined"

    async def _decode(
        self, scope: Scope, receive: Any, method: str, headers: dict[bytes, bytes]
    ) -> tuple[bytes, Any]:
        """Authenticate, then read the request: (what to keep as raw, the decoded body)."""
        query = scope.get("query_string", b"")
        params = parse_qsl(query.decode("latin-1"), keep_blank_values=True) if query else []
        check_signature = not self._authenticate(scope, headers, params, method)
        if method == "POST":
            raw = await self._read_body(headers, receive)
            if check_signature and not self._signatures.valid(headers, raw):
                raise RejectedDelivery("unauthorized", "a valid token is required")
            try:
                data = pydantic_core.from_json(raw, allow_inf_nan=False)
            except ValueError as exc:
                raise RejectedDelivery("malformed", f"body is not JSON: {exc}") from None
            check_json_values(raw, data)
            return raw, data
        raw = b"&".join(p for p in query.split(b"&") if not is_token_pair(p))
        try:  # the token check above is lenient; the envelope's values must be UTF-8
            params = parse_qsl(query.decode(), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise RejectedDelivery("malformed", "the query string is not UTF-8") from None
        return raw, query_envelope(params)

    def _read(self, envelope: Any) -> Reading:
        """The event in ``envelope``, typed and routed to its handlers; or, when its payload
        does not fit its type's model, kept as it came with the errors (quarantined)."""
        try:
            event = validate(envelope)
        except ValidationError as exc:
            return quarantined(envelope, exc)
        payload_json, envelope_text = event_json(event.model_dump(mode="json"))
        return Reading(event.type, event.call_id, envelope_text, payload_json, self.route(event))

    async def _store(self, scope: Scope, event: NewEvent) -> Stored:
        """Store ``event``; when tracing, with the request's span as its trace context."""
        if not self.tracing.enabled:
            return await self.store.add_event(event)
        traced = dataclasses.replace(event, trace_context=scope["receiver.span"].traceparent())
        with self.tracing.span("receiver.store add_event") as span:
            stored = await self.store.add_event(traced)
            span.set({"receiver.duplicate": stored.duplicate})
        return stored

    def _authenticate(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        params: list[tuple[str, str]],
        method: str,
    ) -> bool:
        """True when a token is valid; False when a signature, checked on the body, decides."""
        if self._open:
            return True
        offered = []
        if token := scope.get("path_params", {}).get("token"):
            offered.append(token.encode())
        offered.extend(value.encode() for key, value in params if key == "token")
        authorization = headers.get(b"authorization", b"")
        if authorization[:7].lower() == b"bearer ":
            offered.append(authorization[7:].strip())
        matched = False
        for candidate in offered:
            for token in self._tokens:  # no early exit: timing says nothing about which
                matched |= hmac.compare_digest(candidate, token)
        if matched:
            return True
        if method == "POST" and self._signatures and Signatures.offered(headers):
            return False
        raise RejectedDelivery("unauthorized", "a valid token is required")

    async def _read_body(self, headers: dict[bytes, bytes], receive: Any) -> bytes:
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self._limit:
            raise RejectedDelivery("too_large", f"the limit is {self._limit} bytes")
        if not media_type_ok(headers.get(b"content-type")):
            raise RejectedDelivery("bad_media_type", "send application/json")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RejectedDelivery("malformed", "the client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._limit:
                raise RejectedDelivery("too_large", f"the limit is {self._limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
