"""Schema versions that rewrite data as well as tables: plans, run inside the migration's
transaction (a failure changes nothing).

Version 4 puts every stored phone number in E.164 (:mod:`receiver.numbers`): do-not-call
entries and follow-up intents written before it kept numbers as given, spaces and dashes
removed, so ``5555550123`` never matched ``+15555550123``.
"""

from __future__ import annotations

import json
from collections import defaultdict

from receiver.errors import InvalidNumber, MigrationError
from receiver.numbers import to_e164
from receiver.store.plan import Execute, Fetch, Plan

CHUNK = 1000
_HISTORY = ("created", "cancelled", "suppressed")  # intents that will never be dialled again


def _read(number: str, region: str | None, missing: list[str]) -> str:
    """``number`` in E.164; as it is when it cannot be read (such a row matches no number
    ever written from now on). One without a country code when no region is set is
    counted in ``missing``: the migration then stops, as only the operator knows its country."""
    try:
        return to_e164(number, region)
    except InvalidNumber as exc:
        if exc.reason == "no_country_code":
            missing.append(number)
        return number


def e164_numbers(region: str | None) -> Plan[None]:
    """Rewrite ``do_not_call`` and ``follow_ups`` numbers in E.164, merging the do-not-call
    entries that become one: the earliest ``created_at`` and every distinct reason are kept."""
    missing: list[str] = []
    yield from _do_not_call(region, missing)
    listed = len(missing)
    yield from _follow_ups(region, missing)
    if missing:
        raise MigrationError(
            f"{listed} do-not-call numbers and {len(missing) - listed} follow-up numbers have "
            "no +country code; set RECEIVER_DEFAULT_REGION to the country they belong to "
            "(e.g. US) and migrate again. Nothing was changed."
        )


def _do_not_call(region: str | None, missing: list[str]) -> Plan[None]:
    found = yield Fetch(
        "SELECT number, reason, created_at FROM do_not_call ORDER BY created_at, number"
    )
    groups: dict[str, list[tuple[str, str | None, float]]] = defaultdict(list)
    for number, reason, created_at in found:
        groups[_read(number, region, missing)].append((number, reason, created_at))
    for e164, entries in groups.items():
        if [number for number, _, _ in entries] == [e164]:
            continue  # already as it should be
        for number, _, _ in entries:
            yield Execute("DELETE FROM do_not_call WHERE number = :number", {"number": number})
        reasons = list(dict.fromkeys(r for _, r, _ in entries if r))
        yield Execute(
            "INSERT INTO do_not_call (number, reason, created_at) VALUES (:n, :r, :c)",
            {"n": e164, "r": "; ".join(reasons) or None, "c": min(c for _, _, c in entries)},
        )


def _follow_ups(region: str | None, missing: list[str]) -> Plan[None]:
    after = ""
    while True:
        found = yield Fetch(
            "SELECT key, to_number, from_number, request, status FROM follow_ups"
            " WHERE key > :after ORDER BY key LIMIT :limit",
            {"after": after, "limit": CHUNK},
        )
        for key, to_number, from_number, request, status in found:
            counted: list[str] = [] if status in _HISTORY else missing
            to_e, from_e = _read(to_number, region, counted), _read(from_number, region, counted)
            if (to_e, from_e) == (to_number, from_number):
                continue
            body = json.loads(request)
            body["to_number"], body["from_number"] = to_e, from_e
            yield Execute(
                "UPDATE follow_ups SET to_number = :to, from_number = :from_, request = :request"
                " WHERE key = :key",
                {"to": to_e, "from_": from_e, "request": json.dumps(body), "key": key},
            )
        if len(found) < CHUNK:
            return
        after = found[-1][0]
