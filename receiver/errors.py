"""The error tree of vocode-receiver. Each class's docstring is its meaning.

``ReceiverError``
├── ``SettingsError``      a setting is missing or wrong; the process does not start
├── ``DependencyError``    an optional dependency is missing; names the extra to install
├── ``InvalidNumber``      a phone number cannot be read as E.164 (also a ``ValueError``)
├── ``StoreError``         the store could not do what was asked
│   └── ``MigrationError`` the schema is newer than this version, or a migration failed
├── ``HandlerError``       a handler registration is invalid (raised at start-up)
├── ``RejectedDelivery``   an incoming webhook is refused; carries status and reason code
└── ``VocodeError``        a call to the Vocode API failed; carries operation and status
    ├── ``VocodeRejected``       422: the request is invalid; carries the field errors
    ├── ``VocodeAuthError``      401/403: the API key is missing, wrong or not allowed
    ├── ``VocodeRateLimited``    429: carries ``retry_after`` seconds; retry later
    ├── ``VocodeServerError``    5xx: retry
    ├── ``VocodeNotSent``        the request never left: safe to retry
    └── ``VocodeOutcomeUnknown`` sent, no answer read: the call may exist; reconcile first

HTTP statuses are mapped in one place: :data:`REJECTIONS` for incoming webhooks,
``receiver.vocode.outcomes`` for answers from Vocode.
"""

from __future__ import annotations

from typing import Any


class ReceiverError(Exception):
    """Base of every error raised on purpose by vocode-receiver."""


class SettingsError(ReceiverError):
    """A setting is missing or has a wrong value; the message names the variable."""


class DependencyError(ReceiverError):
    """An optional dependency is not installed; the message names the extra to install."""


class InvalidNumber(ReceiverError, ValueError):
    """A phone number cannot be read as E.164; the message says why, never the number.

    ``reason`` is a short code: ``no_country_code`` (no ``+`` and no default region),
    ``not_a_number``, ``too_short``, ``too_long``, ``invalid_length``, ``invalid_country_code``.
    """

    reason: str = "not_a_number"


class StoreError(ReceiverError):
    """The store could not do what was asked."""


class MigrationError(StoreError):
    """The database schema is newer than this version knows, or a migration failed."""


class HandlerError(ReceiverError):
    """A handler or router is registered wrongly; the message names the handler."""


# reason code -> HTTP status; the codes are also the `outcome` label of the request metric
REJECTIONS: dict[str, int] = {
    "unauthorized": 401,
    "method_not_allowed": 405,
    "too_large": 413,
    "bad_media_type": 415,
    "malformed": 400,
    "invalid": 422,
    "not_found": 404,
    "unavailable": 503,
    "internal": 500,
}


class RejectedDelivery(ReceiverError):
    """A webhook delivery is refused before anything is stored."""

    def __init__(self, reason: str, detail: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = REJECTIONS[reason]
        self.detail = detail


class VocodeError(ReceiverError):
    """A call to the Vocode API failed; ``operation`` names it, ``status`` is the HTTP status.

    Raised as is for answers no subclass covers (e.g. 404). Never carries the API key.
    """

    def __init__(self, message: str, *, operation: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.status = status


class VocodeRejected(VocodeError):
    """422: Vocode refused the request as invalid; ``detail`` lists the field errors
    (``loc``, ``msg``, ``type``; the submitted values are left out). Do not retry."""

    def __init__(self, message: str, *, detail: list[dict[str, Any]], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.detail = detail


class VocodeAuthError(VocodeError):
    """401 or 403: the API key is missing, wrong or lacks permission. Do not retry."""


class VocodeRateLimited(VocodeError):
    """429: too many requests; ``retry_after`` is the seconds Vocode asked to wait, or None."""

    def __init__(self, message: str, *, retry_after: float | None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class VocodeServerError(VocodeError):
    """5xx: Vocode (or a proxy in front of it) failed. Retryable."""


class VocodeNotSent(VocodeError):
    """The request never reached Vocode (connect error, connect or pool timeout): safe to retry."""


class VocodeOutcomeUnknown(VocodeError):
    """The request was sent but no answer was read (read timeout, connection reset, an
    unreadable answer): the call may or may not exist. Reconcile before any retry."""
