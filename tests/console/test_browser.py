"""The console in a real headless Chromium (Debian's, driven by Playwright), against the
whole service served by uvicorn on a free port with real handlers, and the fake Vocode API
for follow-ups: sign-in, the events, a call, a replay seen done, the live tail, refusals.

The tests take the screenshots in ``docs/``: set ``CONSOLE_SCREENSHOTS_DIR=docs`` to write
them there (otherwise they go to a temporary folder, still taken and checked).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.support import AGENT, OPERATOR
from receiver import HandlerContext, Router
from receiver.app import create_app
from receiver.delivery.registry import Registry
from receiver.metrics import Metrics
from receiver.settings import load_settings
from receiver.vocode.fake import FakeVocode
from receiver.vocode.fake.play import call_life, post_events
from receiver.vocode.fake.server_thread import ServerThread

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
WEBHOOK = "webhook-token-0123456789abcdef"
API_KEY = "vk_browser_test_0123456789"
CUSTOMER, LISTED, OURS = "+15555550123", "+15555550177", "+15555550199"
WAIT = 30.0  # a deadline for what runs in the background, not a measurement
FAILING = threading.Event()  # while set, browser.flaky fails (and, max_attempts=1, dies)

router = Router("browser")


@router.on("*")
async def record(event: Any, ctx: HandlerContext) -> None:
    """Every event: done."""


@router.on("event_message", max_attempts=1)
async def flaky(event: Any, ctx: HandlerContext) -> None:
    """Messages: dead at the first failure while FAILING is set."""
    if FAILING.is_set():
        raise RuntimeError(f"CRM answered 503 for call {event.call_id}")


@router.on("event_phone_call_ended")
async def callback(event: Any, ctx: HandlerContext) -> None:
    """Ended calls: one follow-up call (to a listed number for calls named dnc-...)."""
    number = LISTED if event.call_id.startswith("dnc-") else CUSTOMER
    await ctx.follow_up(to_number=number, from_number=OURS, agent=AGENT,
                        context={"callback_of": event.call_id})  # fmt: skip


class Service:
    """The running service: its URL, database, and ways to post to it and read it."""

    def __init__(self, url: str, db: Path) -> None:
        self.url = url
        self.db = db
        self.hook = f"{url}/webhooks/vocode/{WEBHOOK}"

    def rows(self, sql: str, *args: Any) -> list[Any]:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def wait(self, what: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not ready():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.05)

    def settled(self) -> None:
        """Wait until no delivery or follow-up is left to run."""
        self.wait("deliveries to run", lambda: not self.rows(
            "SELECT 1 FROM deliveries WHERE status IN ('pending', 'running') UNION ALL "
            "SELECT 1 FROM follow_ups WHERE status IN ('pending', 'sending')"
        ))  # fmt: skip

    def play(self, call_id: str, **options: Any) -> None:
        events = call_life(call_id=call_id, to_number=CUSTOMER, from_number=OURS, **options)
        assert post_events(self.hook, call_id, events).ok


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The whole service (intake, workers, sender, console) on a free port."""
    db = tmp_path_factory.mktemp("console-browser") / "receiver.db"
    with FakeVocode(api_key=API_KEY) as fake:
        settings = load_settings(
            tokens=WEBHOOK, console_tokens=OPERATOR, database_url=f"sqlite:///{db}",
            vocode_api_key=API_KEY, vocode_base_url=fake.url, poll_interval_seconds=0.1,
            follow_up_max_per_number=10,
        )  # fmt: skip
        app = create_app(settings, registry=Registry([router]), metrics=Metrics())
        with ServerThread(app, lifespan="on") as server:
            yield Service(server.url, db)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, installed by .ci/run (never downloaded by Playwright)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any, service: Service) -> Iterator[Any]:
    """A fresh browser profile (no cookie) on the service."""
    ctx = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 820})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    """A page signed in the way an operator does: ?token= once."""
    tab = context.new_page()
    tab.goto(f"/console/?token={OPERATOR}")
    return tab


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Any, str], None]:
    """``shot(page, name)``: a full-page PNG named ``console-<name>.png``."""
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS_DIR") or tmp_path_factory.mktemp("shots"))

    def shot(tab: Any, name: str) -> None:
        path = folder / f"console-{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000

    return shot


def test_sign_in_sets_the_session_cookie_and_hides_the_token(page, context, shots) -> None:
    """?token= once: the overview, no token left in the URL, an HttpOnly Strict cookie."""
    assert page.url.endswith("/console/") and OPERATOR not in page.url
    expect(page.locator("h1")).to_have_text("Overview")
    [cookie] = context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == (
        "receiver_console", True, "Strict"
    )
    assert OPERATOR not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read it
    shots(page, "overview")


def test_without_the_cookie_a_401_page_and_no_data(context, service) -> None:
    """A browser that never signed in gets 401 and the sign-in page, no event in it."""
    service.play(f"private-{uuid.uuid4()}")
    tab = context.new_page()
    response = tab.goto("/console/events")
    assert response.status == 401
    expect(tab.locator("h1")).to_have_text("Sign in required")
    assert "evt_" not in tab.content() and "private-" not in tab.content()


def test_event_list_and_filter(page, service, shots) -> None:
    """Events newest first with full ids; filtering by type keeps only that type."""
    call = f"list-{uuid.uuid4()}"
    service.play(call)
    page.goto("/console/events")
    rows = page.locator("table.events tbody tr")
    expect(rows.first).to_contain_text("event_recording")
    expect(rows.first).to_contain_text(call)
    shots(page, "events")
    page.select_option("select[name=type]", "event_message")
    page.fill("form.filters input[name=call_id]", call)
    page.click("form.filters button")
    expect(rows).to_have_count(4)
    for text in rows.locator("td:nth-child(2)").all_inner_texts():
        assert text.strip() == "event_message"
    ids = rows.locator("button.copy").evaluate_all("bs => bs.map(b => b.dataset.copy)")
    stored = {i for (i,) in service.rows("SELECT id FROM events WHERE call_id = ?", call)}
    assert set(ids) <= stored and len(ids) == 4


def test_call_timeline(page, service, shots) -> None:
    """A call's page: its events in order with deliveries, and the follow-up it caused
    with the Vocode call that follow-up created."""
    call = f"call-{uuid.uuid4()}"
    service.play(call)
    service.settled()
    page.goto("/console/events")
    page.fill("header .find input", call)
    page.press("header .find input", "Enter")
    expect(page.locator("h1")).to_contain_text(call)
    items = page.locator("ol.timeline > li.t-event")
    expect(items).to_have_count(8)  # connected, 4 messages, ended, transcript, recording
    kinds = items.locator(".t-head strong").all_inner_texts()
    assert kinds[0] == "event_phone_call_connected" and kinds[-1] == "event_recording"
    expect(items.nth(0)).to_contain_text("browser.record")
    follow_up = page.locator("ol.timeline > li.t-follow-up")
    expect(follow_up).to_contain_text("created")
    created = follow_up.locator("a").first.inner_text()
    assert service.rows("SELECT status FROM follow_ups WHERE vocode_call_id = ?", created) == [
        ("created",)
    ]
    expect(page.locator(".pii-note")).to_be_visible()
    shots(page, "call")


def test_replay_a_dead_delivery_from_the_page_and_see_it_done(page, service, shots) -> None:
    """A dead delivery, replayed with the button, runs again and the page shows it done."""
    call = f"replay-{uuid.uuid4()}"
    FAILING.set()
    try:
        service.play(call, n_messages=1)
        service.wait("the delivery to die", lambda: service.rows(
            "SELECT 1 FROM deliveries WHERE call_id = ? AND handler = 'browser.flaky'"
            " AND status = 'dead'", call))  # fmt: skip
    finally:
        FAILING.clear()
    [(delivery_id,)] = service.rows(
        "SELECT id FROM deliveries WHERE call_id = ? AND handler = 'browser.flaky'", call
    )
    page.goto("/console/deliveries?status=dead&handler=browser.flaky")
    expect(page.locator(f'a[href="/console/deliveries/{delivery_id}"]')).to_be_visible()
    shots(page, "deliveries")
    page.click(f'a[href="/console/deliveries/{delivery_id}"]')
    expect(page.locator("h1 .badge")).to_have_text("dead")
    expect(page.locator("pre.error-text")).to_contain_text("CRM answered 503")
    page.click("#replay")
    expect(page.locator(".flash")).to_contain_text("Replayed 1 deliveries")
    expect(page.locator("h1 .badge")).to_have_text("done", timeout=WAIT * 1000)
    shots(page, "delivery")


def test_live_tail_shows_a_newly_posted_event(page, service, shots) -> None:
    """With the tail open, an event posted to the webhook appears without a reload."""
    page.goto("/console/tail")
    expect(page.locator("#tail-state")).to_have_attribute("data-state", "live")
    call = f"tail-{uuid.uuid4()}"
    answer = httpx.post(service.hook, json={
        "type": "event_human_detection", "call_id": call, "payload": {"result": "human"},
    }).json()  # fmt: skip
    row = page.locator("#tail tbody tr", has_text=answer["id"])
    expect(row).to_be_visible()
    expect(row).to_contain_text(call)
    shots(page, "tail")


def test_follow_ups_and_a_guard_refusal(page, service, shots) -> None:
    """A number added to the do-not-call list from the page refuses the next follow-up to it;
    the follow-ups page shows it refused, and created ones with their Vocode call."""
    page.goto("/console/do-not-call")
    page.fill("input[name=number]", LISTED)
    page.fill("input[name=reason]", "asked not to be called")
    page.click("form.filters button")
    expect(page.locator(".flash")).to_contain_text("Added")
    expect(page.locator("table.dnc")).to_contain_text("+*******0177")
    call = f"dnc-{uuid.uuid4()}"
    service.play(call)
    service.settled()
    page.goto("/console/follow-ups")
    refused = page.locator("table.follow-ups tbody tr", has_text="refused")
    expect(refused.first).to_contain_text("do_not_call")
    shots(page, "follow-ups")


def test_a_post_without_the_csrf_token_is_refused(page, service) -> None:
    """A form whose CSRF field was taken out is refused (403) and changes nothing."""
    page.goto("/console/do-not-call")
    page.evaluate(
        "document.querySelector('form[action$=\"/do-not-call/add\"] input[name=csrf]').remove()"
    )
    page.fill("input[name=number]", "+15555550188")
    with page.expect_response(lambda r: r.url.endswith("/do-not-call/add")) as answer:
        page.click("form.filters button")
    assert answer.value.status == 403
    expect(page.locator("h1")).to_have_text("Refused")
    assert service.rows("SELECT 1 FROM do_not_call WHERE number = '+15555550188'") == []
    direct = page.request.post("/console/do-not-call/add", form={"number": "+15555550188"})
    assert direct.status == 403
