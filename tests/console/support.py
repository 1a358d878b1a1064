"""What the console tests share besides fixtures: the operator token and signing in."""

from __future__ import annotations

import re
from typing import Any

import httpx

OPERATOR = "operator-token-0123456789abcdef"  # an operator (console) token, not a webhook token


async def sign_in(client: httpx.AsyncClient, token: str = OPERATOR) -> str:
    """Open a session as a browser does (``?token=``); answer the session's CSRF token."""
    response = await client.get("/console/", params={"token": token})
    assert response.status_code == 303, response.text
    page = await client.get("/console/do-not-call")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found[1]


def post_event(client: httpx.AsyncClient, token: str, envelope: dict[str, Any]) -> Any:
    """Post an envelope to the webhook endpoint (an awaitable response)."""
    return client.post(f"/webhooks/vocode/{token}", json=envelope)
