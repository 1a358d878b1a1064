"""What an answer (or the lack of one) from Vocode means: the one place that maps HTTP
statuses and transport failures to the :class:`~receiver.errors.VocodeError` tree.

The line that matters most is between *not sent* and *outcome unknown*. A failure to
connect, or a wait for a pooled connection, happens before any byte of the request leaves;
a connection broken while the request is still being written leaves Vocode with part of a
request, which it cannot act on: a retry cannot dial anyone twice. Anything after the last
byte is handed to the network (a read timeout, a reset, a half answer) may come after Vocode
created the call. A write that times out is counted as unknown: the bytes still queued may
leave as the connection closes.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx
from pydantic import ValidationError

from receiver.errors import (
    VocodeAuthError,
    VocodeError,
    VocodeNotSent,
    VocodeOutcomeUnknown,
    VocodeRateLimited,
    VocodeRejected,
    VocodeServerError,
)
from receiver.vocode.models import ValidationErrorBody

# the transport errors raised before the request is written
_BEFORE_SENDING = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)
_MAX_RETRY_AFTER = 24 * 3600.0


def status_class(status: int) -> str:
    """``"2xx"`` ... ``"5xx"``: the bounded label a metric may carry."""
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    ``None`` when absent or unreadable; never negative; capped at one day.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP-date is always GMT
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _field_errors(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body = ValidationErrorBody.model_validate_json(response.content)
    except ValidationError:
        return []
    # "input" echoes the request (phone numbers, context): keep it out of errors and logs
    return [{"loc": e.loc, "msg": e.msg, "type": e.type} for e in body.detail]


def _summary(errors: list[dict[str, Any]]) -> str:
    parts = [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in errors[:5]]
    return "; ".join(parts) if parts else "no field errors given"


def error_for_response(operation: str, response: httpx.Response) -> VocodeError:
    """The error an unsuccessful (non-2xx) answer stands for."""
    status = response.status_code
    if status == 422:
        errors = _field_errors(response)
        return VocodeRejected(
            f"Vocode rejected {operation} (422): {_summary(errors)}",
            detail=errors,
            operation=operation,
            status=status,
        )
    if status in (401, 403):
        return VocodeAuthError(
            f"Vocode refused the API key for {operation} ({status}); check RECEIVER_VOCODE_API_KEY",
            operation=operation,
            status=status,
        )
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return VocodeRateLimited(
            f"Vocode rate-limited {operation} (429, retry after {retry_after} s)",
            retry_after=retry_after,
            operation=operation,
            status=status,
        )
    if status >= 500:
        return VocodeServerError(
            f"Vocode failed {operation} ({status})", operation=operation, status=status
        )
    return VocodeError(
        f"Vocode answered {operation} with {status}", operation=operation, status=status
    )


def error_for_transport(
    operation: str, exc: httpx.RequestError, *, cut_short: bool = False
) -> VocodeError:
    """The error a failed exchange stands for: not sent, or outcome unknown.

    ``cut_short``: writing the request failed on a broken connection (httpcore swallows that
    write error and reports the read that follows, so the client learns it from the trace).
    A stale keep-alive connection that the server closed shows up as "disconnected without
    a response" after the whole request was written: nothing was processed, but from here
    that cannot be told apart from a reset after the call was created, so it counts as
    unknown.
    """
    kind = type(exc).__name__
    if cut_short or isinstance(exc, _BEFORE_SENDING):
        return VocodeNotSent(f"{operation} was not sent to Vocode ({kind})", operation=operation)
    return VocodeOutcomeUnknown(
        f"{operation} was sent to Vocode but no answer was read ({kind}); the call may exist",
        operation=operation,
    )


def transport_class(error: VocodeError) -> str:
    """The metric label of a failure that has no HTTP status."""
    return "not_sent" if isinstance(error, VocodeNotSent) else "unknown"
