"""The console's pages over a stored call: events, one event, a call's timeline, the PII rule,
and the overview's numbers against /metrics."""

from __future__ import annotations

import re

import pytest

from console.support import CUSTOMER, OPERATOR, post_event, seed_call


async def test_events_newest_first_with_full_ids(browser_client, store_of) -> None:
    """The events page lists every event newest first, each id whole and copyable."""
    ids = await seed_call(store_of, "call-A")
    page = await browser_client.get("/console/events")
    shown = re.findall(r'data-copy="(evt_[^"]+)"', page.text)
    assert shown == ids[::-1]


async def test_events_filter_by_type_call_and_quarantine(browser_client, store_of, token) -> None:
    """Type, call id and the quarantine filter narrow the list."""
    ids = await seed_call(store_of, "call-A")
    await seed_call(store_of, "call-B")
    page = await browser_client.get(
        "/console/events", params={"type": "event_message", "call_id": "call-A"}
    )
    assert re.findall(r'data-copy="(evt_[^"]+)"', page.text) == [ids[2], ids[1]]
    bad = await post_event(
        browser_client, token,
        {"type": "event_message", "call_id": "call-Q", "payload": {"sender": 7}},
    )  # fmt: skip
    quarantined = await browser_client.get("/console/events", params={"quarantined": "1"})
    assert re.findall(r'data-copy="(evt_[^"]+)"', quarantined.text) == [bad.json()["id"]]


async def test_events_time_range(browser_client, store_of) -> None:
    """since/until (ISO, UTC) select the events received in between; a bad time says why."""
    ids = await seed_call(store_of, "call-A")
    page = await browser_client.get(
        "/console/events",
        params={"since": "2026-05-28T20:26:41", "until": "2026-05-28T20:26:44"},
    )
    assert re.findall(r'data-copy="(evt_[^"]+)"', page.text) == [ids[3], ids[2], ids[1]]
    wrong = await browser_client.get("/console/events", params={"since": "yesterday-ish"})
    assert "expected e.g. 2h" in wrong.text


async def test_keyset_pages_follow_links(browser_client, store_of) -> None:
    """Older and newer links walk pages of 50 by seq; every event shows once."""
    for n in range(9):
        await seed_call(store_of, f"call-{n}")  # 54 events
    first = await browser_client.get("/console/events")
    older = re.search(r'href="(/console/events\?[^"]+)" rel="next"', first.text)[1]
    second = await browser_client.get(older.replace("&amp;", "&"))
    page_one = re.findall(r'data-copy="(evt_[^"]+)"', first.text)
    page_two = re.findall(r'data-copy="(evt_[^"]+)"', second.text)
    assert len(page_one) == 50 and len(page_two) == 4 and not set(page_one) & set(page_two)
    newer = re.search(r'href="(/console/events\?[^"]+)" rel="prev"', second.text)[1]
    back = await browser_client.get(newer.replace("&amp;", "&"))
    assert re.findall(r'data-copy="(evt_[^"]+)"', back.text) == page_one


async def test_call_timeline_in_order(browser_client, store_of) -> None:
    """A call's page shows its events in order, each handler's delivery and attempts, the
    follow-up its end asked for, and a guard's refusal."""
    ids = await seed_call(store_of, "call-A")
    await store_of.dnc_add(CUSTOMER, "asked")
    from receiver.follow_ups.guards import FollowUpGuards

    claim = await store_of.claim_follow_ups(10, 60.0, FollowUpGuards(3, 2))
    assert [reason for _, reason in claim.refused] == ["do_not_call"]
    page = (await browser_client.get("/console/calls/call-A")).text
    positions = [page.index(f">{event_id}<") for event_id in ids]
    assert positions == sorted(positions)
    assert page.count("crm.save") >= 6 and "dead" in page and "1 attempt" in page
    assert f"{ids[3]}/crm.save/1" in page and "refused by guard: do_not_call" in page
    assert "refused by a guard" in page


async def test_call_placed_by_a_follow_up_links_back(browser_client, store_of) -> None:
    """A call created by a follow-up says which intent and which call asked for it."""
    ids = await seed_call(store_of, "call-A")
    from receiver.follow_ups.guards import FollowUpGuards

    [item] = (await store_of.claim_follow_ups(10, 60.0, FollowUpGuards(3, 2))).claimed
    assert await store_of.complete_follow_up(item.key, 1, "created", vocode_call_id="call-B")
    origin = (await browser_client.get("/console/calls/call-A")).text
    assert 'href="/console/calls/call-B"' in origin
    placed = (await browser_client.get("/console/calls/call-B")).text
    assert f"{ids[3]}/crm.save/1" in placed and 'href="/console/calls/call-A"' in placed


async def test_pii_hidden_by_default_and_said(browser_client, store_of) -> None:
    """Numbers masked, texts, transcripts and recording links hidden; the page says so."""
    ids = await seed_call(store_of, "call-A")
    for path in ("/console/calls/call-A", f"/console/events/{ids[2]}", "/console/events",
                 "/console/deliveries", "/console/follow-ups"):  # fmt: skip
        page = (await browser_client.get(path)).text
        assert "Phone numbers are masked" in page, path
        assert CUSTOMER not in page and "call me back" not in page, path
        assert "rec-1.wav" not in page and "Example Dental" not in page, path
    assert "*******0123" in (await browser_client.get("/console/calls/call-A")).text


async def test_pii_shown_when_asked(start_app, client_for, console_settings) -> None:
    """RECEIVER_CONSOLE_PII (or RECEIVER_LOG_PII) shows texts, transcripts, links, numbers."""
    from console.support import sign_in

    for setting in ("console_pii", "log_pii"):
        app = await start_app(console_settings(**{setting: True}), workers=False)
        client = await client_for(app)
        await sign_in(client)
        await seed_call(app.state.services.store, "call-A")
        page = (await client.get("/console/calls/call-A")).text
        assert "Phone numbers are masked" not in page
        assert "Please call me back tomorrow" in page and CUSTOMER in page
        assert 'href="https://recordings.example/rec-1.wav"' in page
        assert "HUMAN: Please call me back tomorrow" in page


async def test_no_token_is_ever_shown(start_app, client_for, console_settings, token) -> None:
    """Webhook and operator tokens are redacted from every page, PII shown or not."""
    from console.support import sign_in

    app = await start_app(console_settings(console_pii=True), workers=False)
    client = await client_for(app)
    await sign_in(client)
    text = f"my link is {token} and {OPERATOR}"
    leak = {"type": "event_message", "call_id": "call-L",
            "payload": {"sender": "human", "text": text}}  # fmt: skip
    stored = await post_event(client, token, leak)
    got = await client.get(f"/webhooks/vocode/{token}?type=event_human_detection&call_id=call-L"
                           "&payload.result=human")  # fmt: skip
    assert got.status_code == 202
    for path in ("/console/calls/call-L", f"/console/events/{stored.json()['id']}",
                 f"/console/events/{got.json()['id']}", "/console/events"):  # fmt: skip
        page = (await client.get(path)).text
        assert token not in page and OPERATOR not in page, path


async def test_overview_matches_metrics(browser_client, store_of) -> None:
    """The overview's pending, dead and held numbers are those /metrics shows right after."""
    await seed_call(store_of, "call-A")
    await seed_call(store_of, "call-B")
    page = (await browser_client.get("/console/")).text
    stats = dict(re.findall(r'data-stat="(\w+)">([^<]+)<', page))
    metrics = (await browser_client.get("/metrics")).text
    def total(name: str) -> float:
        return sum(float(v) for v in re.findall(rf"^{name}\{{.*\}} (\S+)$", metrics, re.M))

    dead, pending = total("receiver_deliveries_dead"), total("receiver_deliveries_pending")
    held = re.search(r"^receiver_follow_ups_held (\S+)$", metrics, re.M)[1]
    fu = re.search(r"^receiver_follow_ups_pending (\S+)$", metrics, re.M)[1]
    assert (int(stats["dead"]), int(stats["pending"])) == (dead, pending) == (2, 0)
    assert (int(stats["held"]), int(stats["follow_ups_pending"])) == (float(held), float(fu))
    assert int(stats["follow_ups_pending"]) == 2


async def test_unknown_event_and_delivery_are_404(browser_client) -> None:
    """An id that is not stored gets a 404 page."""
    assert (await browser_client.get("/console/events/evt_nope")).status_code == 404
    assert (await browser_client.get("/console/deliveries/999")).status_code == 404


async def test_find_a_call_goes_to_its_page(browser_client) -> None:
    """The call-id box redirects to that call's page, any characters escaped."""
    response = await browser_client.get("/console/calls", params={"call_id": " a b/c "})
    assert response.status_code == 303
    assert response.headers["location"] == "/console/calls/a%20b%2Fc"


@pytest.mark.postgres
async def test_pages_on_postgresql(start_app, client_for, console_settings, pg_url) -> None:
    """The same pages over a PostgreSQL store: a time-ranged event list, a call's timeline."""
    from console.support import sign_in

    app = await start_app(console_settings(database_url=pg_url), workers=False)
    client = await client_for(app)
    await sign_in(client)
    ids = await seed_call(app.state.services.store, "call-P")
    page = await client.get(
        "/console/events", params={"since": "2026-05-28T20:26:41", "call_id": "call-P"}
    )
    assert re.findall(r'data-copy="(evt_[^"]+)"', page.text) == ids[1:][::-1]
    timeline = (await client.get("/console/calls/call-P")).text
    assert [timeline.index(f">{i}<") for i in ids] == sorted(timeline.index(f">{i}<") for i in ids)
    assert "CRM answered 500 for +*******0123" in timeline
