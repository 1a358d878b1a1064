"""The console's actions: replay (one, or every dead one matching), release and cancel of
follow-ups, the do-not-call list; each a POST with the CSRF token, answered by a redirect to
a page that says what was done."""

from __future__ import annotations

import re

from console.support import CUSTOMER, seed_call
from receiver.follow_ups.guards import FollowUpGuards
from receiver.store.records import DeliveryFilter


async def _dead(store, handler: str = "crm.save"):
    return await store.list_deliveries(DeliveryFilter(status="dead", handler=handler))


async def test_a_dead_delivery_shows_its_error_and_replays(browser_client, store_of) -> None:
    """A dead delivery's page shows its last error and attempts; replay makes it pending."""
    await seed_call(store_of, "call-A")
    [dead] = await _dead(store_of)
    page = (await browser_client.get(f"/console/deliveries/{dead.id}")).text
    assert "CRM answered 500 for +*******0123" in page and 'id="attempts">1<' in page
    response = await browser_client.post(
        f"/console/deliveries/{dead.id}/replay", data={"csrf": browser_client.csrf}
    )
    assert response.status_code == 303
    shown = await browser_client.get(response.headers["location"])
    assert "Replayed 1 deliveries" in shown.text
    record = await store_of.get_delivery(dead.id)
    assert (record.status, record.attempts, record.side_effects) == ("pending", 0, True)


async def test_replay_without_side_effects(browser_client, store_of) -> None:
    """The no-side-effects box replays with follow-ups suppressed, as the CLI's flag does."""
    await seed_call(store_of, "call-A")
    [dead] = await _dead(store_of)
    response = await browser_client.post(
        f"/console/deliveries/{dead.id}/replay",
        data={"csrf": browser_client.csrf, "no_side_effects": "on"},
    )
    shown = await browser_client.get(response.headers["location"])
    assert "without side effects" in shown.text
    assert (await store_of.get_delivery(dead.id)).side_effects is False


async def test_replay_every_dead_one_matching(browser_client, store_of) -> None:
    """The bulk replay takes every dead delivery of the filter, and only those."""
    await seed_call(store_of, "call-A", handler="crm.save")
    await seed_call(store_of, "call-B", handler="crm.save")
    await seed_call(store_of, "call-C", handler="billing.note")
    listed = await browser_client.get(
        "/console/deliveries", params={"status": "dead", "handler": "crm.save"}
    )
    assert 'id="replay-all"' in listed.text and listed.text.count(">dead<") >= 2
    response = await browser_client.post(
        "/console/deliveries/replay",
        data={"csrf": browser_client.csrf, "handler": "crm.save", "status": "done"},
    )
    shown = await browser_client.get(response.headers["location"])
    assert "Replayed 2 deliveries" in shown.text
    assert await _dead(store_of) == [] and len(await _dead(store_of, "billing.note")) == 1
    done = await store_of.list_deliveries(DeliveryFilter(status="done", handler="crm.save"))
    assert len(done) == 10  # the filter's status is dead, whatever the form said


async def test_deliveries_filter_and_pages(browser_client, store_of) -> None:
    """Deliveries list by status and handler, newest first, 50 a page."""
    for n in range(11):
        await seed_call(store_of, f"call-{n}")  # 5 done deliveries each
    page = (await browser_client.get("/console/deliveries", params={"status": "done"})).text
    ids = [int(i) for i in re.findall(r'<td><a href="/console/deliveries/(\d+)">', page)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    older = re.search(r'href="(/console/deliveries\?[^"]+)" rel="next"', page)[1]
    rest = (await browser_client.get(older.replace("&amp;", "&"))).text
    more = [int(i) for i in re.findall(r'<td><a href="/console/deliveries/(\d+)">', rest)]
    assert len(more) == 5 and max(more) < min(ids)


async def test_release_and_cancel_follow_ups(browser_client, store_of) -> None:
    """A refused intent can be released (pending again) and then cancelled."""
    ids = await seed_call(store_of, "call-A")
    key = f"{ids[3]}/crm.save/1"
    await store_of.dnc_add(CUSTOMER)
    await store_of.claim_follow_ups(10, 60.0, FollowUpGuards(3, 2))
    page = (await browser_client.get("/console/follow-ups", params={"status": "refused"})).text
    assert key in page and "do_not_call" in page and "+*******0123" in page
    released = await browser_client.post(
        "/console/follow-ups/release", data={"csrf": browser_client.csrf, "key": key}
    )
    assert "Released" in (await browser_client.get(released.headers["location"])).text
    assert (await store_of.get_follow_up(key)).status == "pending"
    cancelled = await browser_client.post(
        "/console/follow-ups/cancel", data={"csrf": browser_client.csrf, "key": key}
    )
    assert "Cancelled" in (await browser_client.get(cancelled.headers["location"])).text
    assert (await store_of.get_follow_up(key)).status == "cancelled"
    again = await browser_client.post(
        "/console/follow-ups/cancel", data={"csrf": browser_client.csrf, "key": key}
    )
    assert "Nothing changed" in (await browser_client.get(again.headers["location"])).text


async def test_do_not_call_add_list_remove(browser_client, store_of) -> None:
    """Numbers are added in E.164, listed masked, removed by the row's button."""
    added = await browser_client.post(
        "/console/do-not-call/add",
        data={"csrf": browser_client.csrf, "number": "+1 (555) 555-0123", "reason": "asked"},
    )
    assert added.status_code == 303
    assert [n for n, _, _ in await store_of.dnc_list()] == [CUSTOMER]
    page = (await browser_client.get("/console/do-not-call")).text
    assert "+*******0123" in page and CUSTOMER not in page
    ref = re.search(r'name="ref" value="([0-9a-f]+)"', page)[1]
    removed = await browser_client.post(
        "/console/do-not-call/remove", data={"csrf": browser_client.csrf, "ref": ref}
    )
    assert "Removed" in (await browser_client.get(removed.headers["location"])).text
    assert await store_of.dnc_list() == []


async def test_do_not_call_refuses_a_number_it_cannot_read(browser_client, store_of) -> None:
    """A number without a country code (and no default region) is refused, saying why."""
    response = await browser_client.post(
        "/console/do-not-call/add", data={"csrf": browser_client.csrf, "number": "555-0123"}
    )
    assert response.status_code == 400 and "country code" in response.text
    assert await store_of.dnc_list() == []
