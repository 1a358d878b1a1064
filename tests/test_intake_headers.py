"""The headers stored with an event hold no configured secret, whatever their names."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from receiver.intake.headers import StoredHeaders

JSON = {"content-type": "application/json"}
BODY = json.dumps({"type": "event_message", "call_id": "c1", "payload": {}}).encode()
SECRET = "whsec_" + base64.b64encode(b"relay+secret/0123456789abcd?").decode()
API_KEY = "vk_live_7Hq2Zr9Lx4Pw8Ns1Kd6Vb3Mc5Fj0Ty"
METRICS_TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
async def served(start_app, client_for, settings_factory):
    """(client, app) with a token, a signing secret, a metrics token and an API key set."""
    settings = settings_factory(
        signing_secrets=SECRET, metrics_token=METRICS_TOKEN, vocode_api_key=API_KEY
    )
    app = await start_app(settings, workers=False)
    return await client_for(app), app


def leaking_headers(token: str) -> dict[str, str]:
    """Headers proxies add that carry a secret under names no list knows."""
    return {
        "x-original-url": f"/webhooks/vocode/{token}",
        "x-forwarded-uri": f"/webhooks/vocode/{token}?a=1",
        "referer": f"https://hooks.example.com/webhooks/vocode/{token}",
        "x-forwarded-authorization": f"Bearer {token}",
        "x-auth-token": token,
        "x-rewritten-url": quote(f"/webhooks/vocode/{token}", safe=""),
        "x-relay-secret": SECRET,
        "x-relay-secret-encoded": quote(SECRET.removeprefix("whsec_"), safe=""),
        "x-metrics": f"Bearer {METRICS_TOKEN}",
        "x-vocode": API_KEY,
        f"x-{token}": "1",
    }


async def test_no_header_holding_a_secret_is_stored(served, hook, token) -> None:
    """Every header whose name or value holds a configured secret, plain or percent-encoded,
    is left out; the others are kept."""
    client, app = served
    headers = {**JSON, **leaking_headers(token), "x-request-id": "r-1", "user-agent": "vocode"}
    response = await client.post(hook, content=BODY, headers=headers)
    assert response.status_code == 202
    record = await app.state.services.store.get_event(response.json()["id"])
    kept = {"host", "content-length", "content-type", "x-request-id", "user-agent"}
    assert kept <= set(record.headers)
    assert not set(leaking_headers(token)) & set(record.headers)
    stored = json.dumps(record.headers)
    for secret in (token, SECRET, SECRET.removeprefix("whsec_"), METRICS_TOKEN, API_KEY):
        assert secret not in stored


@pytest.mark.parametrize(
    "secret", ['quote"and\\backslash-0123456789', "caf\u00e9-secret-0123456789"]
)
def test_a_secret_that_json_escapes_is_still_found(secret: str) -> None:
    """A secret JSON writes differently (a quote, a backslash, a non-ASCII letter) is found in
    a header all the same."""
    stored = StoredHeaders([secret])
    value = f"Bearer {secret}".encode("latin-1")
    kept = json.loads(stored([(b"x-auth", value), (b"x-request-id", b"r-1")]))
    assert kept == {"x-request-id": "r-1"}
