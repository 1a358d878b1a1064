"""Standard Webhooks signatures, for a relay in front of the receiver that signs what it forwards.

Vocode itself signs nothing; a relay (Svix, Hookdeck, a gateway) can. With
``RECEIVER_SIGNING_SECRETS`` set, a POST that carries no valid token is accepted when its
``webhook-signature`` matches ``webhook-id.webhook-timestamp.body`` under one of the secrets
and its timestamp is within five minutes — checked by the ``standardwebhooks`` library.
"""

from __future__ import annotations

from collections.abc import Sequence

from standardwebhooks import Webhook

HEADERS = (b"webhook-id", b"webhook-timestamp", b"webhook-signature")


class Signatures:
    """Verifies a signed body against any of several secrets (several: rotation)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self._webhooks = [Webhook(secret) for secret in secrets]

    def __bool__(self) -> bool:
        return bool(self._webhooks)

    @staticmethod
    def offered(headers: dict[bytes, bytes]) -> bool:
        """Whether the request carries a signature at all."""
        return b"webhook-signature" in headers

    def valid(self, headers: dict[bytes, bytes], body: bytes) -> bool:
        """True when one secret verifies the signature; never raises."""
        signed = {name.decode(): headers.get(name, b"").decode("latin-1") for name in HEADERS}
        matched = False
        for webhook in self._webhooks:  # every secret is tried: timing tells nothing
            try:
                webhook.verify(body, signed, json_parse=False)
                matched = True
            except Exception:  # a bad header, a stale timestamp, a wrong or malformed signature
                continue
        return matched
