"""The error tree of vocode-receiver. Each class's docstring is its meaning.

``ReceiverError``
├── ``SettingsError``      a setting is missing or wrong; the process does not start
├── ``StoreError``         the store could not do what was asked
│   └── ``MigrationError`` the schema is newer than this version, or a migration failed
├── ``HandlerError``       a handler registration is invalid (raised at start-up)
└── ``RejectedDelivery``   an incoming webhook is refused; carries status and reason code

HTTP statuses are mapped in one place: :data:`REJECTIONS`.
"""

from __future__ import annotations

from typing import Any


class ReceiverError(Exception):
    """Base of every error raised on purpose by vocode-receiver."""


class SettingsError(ReceiverError):
    """A setting is missing or has a wrong value; the message names the variable."""


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
