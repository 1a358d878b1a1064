"""Standard Webhooks signatures authenticate a relay that signs, as an alternative to a token."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from receiver.errors import SettingsError

SECRET = "whsec_" + base64.b64encode(b"relay-secret-0123456789abcdef").decode()
OTHER = "whsec_" + base64.b64encode(b"another-secret-0123456789abc").decode()
URL = "/webhooks/vocode"


def signed(body: bytes, secret: str = SECRET, msg_id: str = "msg_1", at: float | None = None):
    """The three Standard Webhooks headers for ``body``, as a relay would send them."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    signature = Webhook(secret).sign(msg_id, moment, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


@pytest.fixture
async def relay_client(client_factory, settings_factory):
    """A receiver that accepts both its token and relays signing with SECRET or OTHER."""
    return await client_factory(settings_factory(signing_secrets=f"{SECRET},{OTHER}"))


async def test_a_valid_signature_stands_in_for_the_token(relay_client, sample_bytes) -> None:
    """A POST without a token but with a valid signature (either secret) is stored."""
    body = sample_bytes("event_message")
    response = await relay_client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 202
    other = sample_bytes("event_transcript")
    response = await relay_client.post(URL, content=other, headers=signed(other, OTHER, "m2"))
    assert response.status_code == 202


@pytest.mark.parametrize(
    "tamper",
    ["body", "wrong_secret", "stale", "garbled"],
)
async def test_a_bad_signature_is_401(relay_client, sample_bytes, tamper: str) -> None:
    """A changed body, another secret, a timestamp over 5 min old or a garbled header: 401."""
    body = sample_bytes("event_message")
    wrong = "whsec_" + base64.b64encode(b"not-the-secret-000000000000").decode()
    headers = {
        "body": signed(body),
        "wrong_secret": signed(body, wrong),
        "stale": signed(body, at=time.time() - 600),
        "garbled": {**signed(body), "webhook-signature": "v1"},
    }[tamper]
    sent = body.replace(b"Dana", b"Eve!") if tamper == "body" else body
    response = await relay_client.post(URL, content=sent, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "detail": "a valid token is required"}


async def test_signatures_are_ignored_unless_configured(client, sample_bytes) -> None:
    """Without RECEIVER_SIGNING_SECRETS a signed request still needs the token."""
    body = sample_bytes("event_message")
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 401


async def test_token_still_works_beside_signatures(relay_client, hook, sample_bytes) -> None:
    """With signing secrets set, the token in the path is accepted as before."""
    response = await relay_client.post(hook, content=sample_bytes("event_message"))
    assert response.status_code == 202


def test_bad_secret_and_serving_with_secrets_only(settings_factory) -> None:
    """A secret that is not base64 names its variable; secrets alone are enough to serve."""
    with pytest.raises(SettingsError, match="RECEIVER_SIGNING_SECRETS"):
        settings_factory(signing_secrets="whsec_***")
    settings_factory(tokens="", signing_secrets=SECRET).check_serving()
