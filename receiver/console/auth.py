"""Who may use the console: operator tokens, signed session cookies, CSRF tokens.

Login works as Jupyter's does: ``/console/?token=T`` once sets a session cookie (HttpOnly,
SameSite=Strict, signed, expiring) and redirects to the same page without the token, so the
token leaves the address bar and the history. Scripts send ``Authorization: Bearer T``
instead. Each token signs the sessions it opened with a key of its own (derived from it), so
every process that has the token accepts the session, and removing a token from
``RECEIVER_CONSOLE_TOKENS`` ends its sessions. A session carries a random CSRF token that
every form posts back; a request authenticated by a Bearer header needs none, since a
browser never adds that header by itself.

Example::

    auth = ConsoleAuth(("operator-token-0123456789",), path="/console", hours=12)
    cookie = auth.open_session(auth.check_token("operator-token-0123456789"))
    auth.read_session(cookie).csrf
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "receiver_console"
_SALT = "receiver.console.session"


@dataclass(frozen=True, slots=True)
class Session:
    """An authenticated operator: how (cookie or bearer) and the session's CSRF token."""

    via: Literal["cookie", "bearer"]
    csrf: str = ""

    def csrf_ok(self, submitted: str | None) -> bool:
        """Whether a state-changing request may go on: always by Bearer, else with the
        session's own CSRF token."""
        if self.via == "bearer":
            return True
        given = (submitted or "").encode()  # bytes: any text compares, none raises
        return bool(given) and hmac.compare_digest(given, self.csrf.encode())


def fingerprint(token: str) -> str:
    """A short name of a token that tells nothing of it (which token opened a session)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class ConsoleAuth:
    """Checks operator tokens and opens and reads session cookies."""

    def __init__(self, tokens: Sequence[str], *, path: str, hours: float) -> None:
        self._tokens = tuple(tokens)
        self._signers = {
            fingerprint(token): URLSafeTimedSerializer(
                hmac.new(token.encode(), _SALT.encode(), hashlib.sha256).hexdigest(), salt=_SALT
            )
            for token in tokens
        }
        self.path = path or "/"
        self.max_age = int(hours * 3600)

    def check_token(self, given: str | None) -> str | None:
        """The fingerprint of the operator token ``given`` is, or None; every token is
        compared, in constant time, whatever matches first."""
        if not given:
            return None
        found = None
        for token in self._tokens:
            if hmac.compare_digest(given.encode(), token.encode()):
                found = fingerprint(token)
        return found

    def open_session(self, token_fingerprint: str) -> str:
        """A new session cookie's value, opened with the token of that fingerprint."""
        signed = self._signers[token_fingerprint].dumps({"csrf": secrets.token_urlsafe(24)})
        return f"{token_fingerprint}.{signed}"

    def read_session(self, value: str | None) -> Session | None:
        """The session a cookie holds, or None if it is forged, expired or its token is gone."""
        if not value or "." not in value:
            return None
        name, _, signed = value.partition(".")
        signer = self._signers.get(name)
        if signer is None:
            return None
        try:
            data = signer.loads(signed, max_age=self.max_age)
        except BadSignature:  # also SignatureExpired
            return None
        csrf = data.get("csrf") if isinstance(data, dict) else None
        return Session("cookie", csrf) if isinstance(csrf, str) and csrf else None

    def bearer(self, header: str | None) -> Session | None:
        """The session of an ``Authorization: Bearer <operator token>`` header, or None."""
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or self.check_token(token.strip()) is None:
            return None
        return Session("bearer")
