"""The application around the endpoint: health, readiness, unknown paths."""

from __future__ import annotations

import sqlite3

import httpx
import pytest


async def test_healthz_answers_while_the_process_lives(client) -> None:
    """/healthz is 200 whenever the process can answer."""
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_when_store_is_migrated(client) -> None:
    """/readyz is 200 with the schema version once the store is reachable and migrated."""
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert isinstance(response.json()["schema_version"], int)


async def test_readyz_when_schema_is_behind(client, db_path) -> None:
    """/readyz is 503 when the database is not at the schema version the code expects."""
    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM schema_version")
    conn.commit()
    conn.close()
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert "schema at version 0" in response.json()["reason"]


async def test_readyz_when_store_is_closed(app, client) -> None:
    """/readyz is 503 when the store cannot be reached; /healthz still answers 200."""
    await app.state.services.store.close()
    ready = await client.get("/readyz")
    alive = await client.get("/healthz")
    assert (ready.status_code, ready.json()["status"]) == (503, "unavailable")
    assert alive.status_code == 200


async def test_unknown_path_is_a_json_404(client) -> None:
    """A path outside the service's routes is answered 404 in the rejection shape."""
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/webhooks/vocode/a/b", 404),  # a token never holds a slash
        ("/webhooks/vocodex", 404),  # a path that only begins like the webhook's
        ("/webhooks/vocode/", 307),  # the router's own redirect, as before
    ],
)
async def test_paths_near_the_webhook_are_the_routers(start_app, settings_factory, path, status):
    """Paths the webhook's fast match does not take reach Starlette's router, which answers
    them as it always did."""
    app = await start_app(settings_factory())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
        response = await client.post(path, content=b"{}")
    assert response.status_code == status
