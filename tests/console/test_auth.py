"""Who gets into the console: operator tokens only, sessions by cookie, CSRF on every action."""

from __future__ import annotations

import time

import httpx
import pytest

from console.support import OPERATOR, post_event, sign_in
from receiver.app import worker_app
from receiver.console.auth import COOKIE, ConsoleAuth, fingerprint
from receiver.errors import SettingsError
from receiver.metrics import Metrics
from receiver.service import build_services


async def test_without_a_session_every_page_is_401_with_no_data(anonymous, token) -> None:
    """No cookie and no Bearer header: 401 and the sign-in page, whatever the page asked."""
    stored = await post_event(
        anonymous, token, {"type": "event_message", "call_id": "c-secret", "payload": {}}
    )
    event_id = stored.json()["id"]
    paths = ("/console/", "/console/events", f"/console/events/{event_id}",
             "/console/calls/c-secret", "/console/deliveries", "/console/tail/stream")  # fmt: skip
    for path in paths:
        response = await anonymous.get(path)
        assert response.status_code == 401, path
        assert "Sign in required" in response.text
        assert event_id not in response.text and "c-secret" not in response.text
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_wrong_token_is_401(anonymous) -> None:
    """?token= with anything but an operator token is refused and sets no cookie."""
    response = await anonymous.get("/console/", params={"token": "x" * 30})
    assert response.status_code == 401 and "not an operator token" in response.text
    assert COOKIE not in response.cookies


async def test_a_webhook_token_does_not_open_the_console(anonymous, token) -> None:
    """The webhook token is not an operator token, as ?token= or as a Bearer header."""
    assert (await anonymous.get("/console/", params={"token": token})).status_code == 401
    bearer = {"authorization": f"Bearer {token}"}
    assert (await anonymous.get("/console/", headers=bearer)).status_code == 401


async def test_login_sets_a_strict_http_only_cookie_and_drops_the_token(anonymous) -> None:
    """?token= once: 303 to the same page without the token, with a session cookie."""
    response = await anonymous.get(
        "/console/events", params={"type": "event_message", "token": OPERATOR}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/events?type=event_message"
    cookie = response.headers["set-cookie"]
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/console", "Max-Age=43200"):
        assert attribute in cookie
    assert OPERATOR not in cookie
    page = await anonymous.get("/console/events")
    assert page.status_code == 200 and "Events" in page.text


async def test_bearer_header_works_for_scripts(anonymous) -> None:
    """Authorization: Bearer <operator token> reads a page without any cookie."""
    response = await anonymous.get(
        "/console/events", headers={"authorization": f"Bearer {OPERATOR}"}
    )
    assert response.status_code == 200
    assert COOKIE not in response.cookies


async def test_a_post_without_the_csrf_token_is_refused(browser_client, console_app) -> None:
    """With a session cookie, an action without (or with a wrong) CSRF token is a 403."""
    forged = ({"number": "+15555550123"}, {"number": "+15555550123", "csrf": "forged"},
              {"number": "+15555550123", "csrf": "fälscht"})  # fmt: skip
    for data in forged:
        response = await browser_client.post("/console/do-not-call/add", data=data)
        assert response.status_code == 403 and "CSRF" in response.text
    assert await console_app.state.services.store.dnc_list() == []  # nothing was added


async def test_a_post_with_the_csrf_token_acts(browser_client, console_app) -> None:
    """The session's CSRF token lets the same action through."""
    response = await browser_client.post(
        "/console/do-not-call/add",
        data={"number": "+15555550123", "csrf": browser_client.csrf},
    )
    assert response.status_code == 303
    [(number, _, _)] = await console_app.state.services.store.dnc_list()
    assert number == "+15555550123"


async def test_a_cross_origin_post_is_refused(browser_client) -> None:
    """An Origin other than the console's own is refused even with the right CSRF token."""
    response = await browser_client.post(
        "/console/do-not-call/add",
        data={"number": "+15555550123", "csrf": browser_client.csrf},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403


async def test_bearer_actions_need_no_csrf_token(anonymous) -> None:
    """A script's POST with the Bearer header acts: browsers never send that header alone."""
    response = await anonymous.post(
        "/console/do-not-call/add",
        data={"number": "+15555550123"},
        headers={"authorization": f"Bearer {OPERATOR}"},
    )
    assert response.status_code == 303


async def test_actions_are_post_only(browser_client) -> None:
    """A GET of an action's URL changes nothing and is not allowed."""
    response = await browser_client.get("/console/do-not-call/add?number=%2B15555550123")
    assert response.status_code == 405


async def test_sign_out_ends_the_session(browser_client) -> None:
    """Signing out clears the cookie: the next page is 401."""
    response = await browser_client.post("/console/logout", data={"csrf": browser_client.csrf})
    assert response.status_code == 200 and "Signed out" in response.text
    assert (await browser_client.get("/console/")).status_code == 401


async def test_static_files_are_served_without_a_session(anonymous) -> None:
    """The console's CSS and script are public (the 401 page uses them) and local."""
    css = await anonymous.get("/console/static/console.css")
    script = await anonymous.get("/console/static/console.js")
    assert css.status_code == script.status_code == 200
    assert "http://" not in script.text + css.text and "https://" not in script.text + css.text


async def test_pages_carry_security_headers(browser_client) -> None:
    """Every console answer forbids framing and caching and allows only its own scripts."""
    response = await browser_client.get("/console/")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "same-origin"


def test_sessions_are_signed_and_expire(monkeypatch) -> None:
    """A forged, tampered or expired cookie, or one of a removed token, opens nothing."""
    auth = ConsoleAuth((OPERATOR, "another-token-0123456789"), path="/console", hours=1)
    cookie = auth.open_session(fingerprint(OPERATOR))
    assert auth.read_session(cookie) is not None
    name, _, signed = cookie.partition(".")
    assert auth.read_session(f"{name}.{signed[:-2]}xx") is None
    assert auth.read_session(f"{fingerprint('another-token-0123456789')}.{signed}") is None
    other = ConsoleAuth(("another-token-0123456789",), path="/c", hours=1)
    assert other.read_session(cookie) is None
    opened_at = time.time() - 2 * 3600  # a session opened two hours ago, of one hour
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: opened_at)
    old = auth.open_session(fingerprint(OPERATOR))
    monkeypatch.undo()
    assert auth.read_session(old) is None


def test_console_tokens_are_checked_at_start(console_settings, token) -> None:
    """Short console tokens, a console token equal to a webhook token, or a console path on
    another route stop the settings with the variable's name."""
    with pytest.raises(SettingsError, match="RECEIVER_CONSOLE_TOKENS"):
        console_settings(console_tokens="short")
    with pytest.raises(SettingsError, match=r"RECEIVER_CONSOLE_TOKENS.*webhook token"):
        console_settings(console_tokens=f"{OPERATOR},{token}")
    for path in ("/", "/metrics", "/webhooks/vocode", "/webhooks"):
        with pytest.raises(SettingsError, match="RECEIVER_CONSOLE_PATH"):
            console_settings(console_path=path)


async def test_off_without_console_tokens(client) -> None:
    """Without RECEIVER_CONSOLE_TOKENS there is no console: its path is a 404."""
    assert (await client.get("/console/")).status_code == 404


async def test_another_path(start_app, client_for, console_settings) -> None:
    """RECEIVER_CONSOLE_PATH moves the console, cookie path included."""
    app = await start_app(console_settings(console_path="/ops/console"))
    client = await client_for(app)
    response = await client.get("/ops/console/", params={"token": OPERATOR})
    assert response.status_code == 303 and "Path=/ops/console" in response.headers["set-cookie"]
    assert (await client.get("/ops/console/events")).status_code == 200


async def test_the_worker_serves_the_console_too(console_settings) -> None:
    """receiver worker's app (metrics and health port) mounts the console as serve's does."""
    services = build_services(console_settings(), metrics=Metrics())
    app = worker_app(services)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://w.test") as client:
            assert (await client.get("/console/")).status_code == 401
            assert await sign_in(client)
            assert (await client.get("/console/deliveries")).status_code == 200
