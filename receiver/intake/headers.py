"""The headers kept with an event: every header but those that carry a secret.

Known names are dropped whatever they hold (``Authorization``, cookies, API keys, the relay's
signature). A header of any other name is dropped too when its name or value holds one of the
configured secrets, as such or percent-encoded: proxies in front copy the request's URL, and
with it the token in the webhook path, into headers of their own (``X-Original-URL``,
``X-Forwarded-Uri``, ``Referer``...), or pass credentials on under new names
(``X-Forwarded-Authorization``, ``X-Auth-Token``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import unquote

from pydantic import SecretStr

from receiver.settings import Settings

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "webhook-signature"}
)


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret a request could carry: webhook tokens, signing secrets (with and without
    their ``whsec_`` prefix), the metrics token and the Vocode API key."""
    found: list[str | None] = [*settings.tokens, settings.metrics_token]
    for secret in settings.signing_secrets:
        found += [secret, secret.removeprefix("whsec_")]
    key: SecretStr | None = settings.vocode_api_key
    found.append(key.get_secret_value() if key is not None else None)
    return sorted({s for s in found if s}, key=len, reverse=True)


class StoredHeaders:
    """``headers_json(raw headers) -> str``: the JSON object of the headers worth keeping.

    The JSON is made first and searched for the secrets (as JSON writes them) and for ``%``:
    only a request where one shows is gone through header by header. A search of one string
    costs a request far less than a search per header.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = tuple(s for s in secrets if s)
        self._in_json = tuple(json.dumps(s)[1:-1] for s in self._secrets)

    def __call__(self, headers: list[tuple[bytes, bytes]]) -> str:
        kept = {}
        for key, value in headers:
            name = key.decode("latin-1")
            if name not in SECRET_HEADERS:
                kept[name] = value.decode("latin-1")
        text = json.dumps(kept)
        if not self._secrets or not (
            "%" in text or any(secret in text for secret in self._in_json)
        ):
            return text
        return json.dumps(
            {k: v for k, v in kept.items() if not self._carries_secret(k + "\n" + v)}
        )

    def _carries_secret(self, text: str) -> bool:
        if any(secret in text for secret in self._secrets):
            return True
        if "%" in text:
            decoded = unquote(text)
            return any(secret in decoded for secret in self._secrets)
        return False
