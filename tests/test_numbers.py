"""Phone numbers in E.164: one number however it is written, several countries, and clear
refusals that never repeat the number."""

from __future__ import annotations

import pytest

from receiver.delivery.context import HandlerContext
from receiver.errors import InvalidNumber
from receiver.numbers import to_e164

AGENT_ID = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"  # a Vocode agent id is a uuid


@pytest.mark.parametrize(
    ("written", "region"),
    [
        ("+15555550123", None),
        ("+1 (555) 555-0123", None),
        ("+1.555.555.0123", None),
        (" +1 555 555 0123 ", "GB"),  # a +country code wins over the region
        ("555-555-0123", "US"),
        ("(555) 555 0123", "US"),
        ("5555550123", "US"),
        ("1-555-555-0123", "US"),
        ("011 1 555 555 0123", "US"),  # the US international prefix
        ("00 1 555 555 0123", "DE"),  # dialled from Germany
    ],
)
def test_one_us_number_however_it_is_written(written: str, region: str | None) -> None:
    """Every way of writing one number gives the same E.164 string."""
    assert to_e164(written, region) == "+15555550123"


@pytest.mark.parametrize(
    ("written", "region", "e164"),
    [
        ("020 7946 0018", "GB", "+442079460018"),
        ("+44 (0)20 7946 0018", None, "+442079460018"),
        ("01511 2345678", "DE", "+4915112345678"),
        ("+49 1511 2345678", "FR", "+4915112345678"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("098765 43210", "IN", "+919876543210"),
        ("+61 4 1234 5678", None, "+61412345678"),
    ],
)
def test_numbers_of_several_countries(written: str, region: str | None, e164: str) -> None:
    """National formats are read in their region; +country code numbers anywhere."""
    assert to_e164(written, region) == e164


@pytest.mark.parametrize(
    ("written", "region", "reason", "says"),
    [
        ("5555550123", None, "no_country_code", "RECEIVER_DEFAULT_REGION"),
        ("555-0123", "US", "too_short", "area code"),
        ("+1 555 555 0123 999", None, "too_long", "too long"),
        ("call me", "US", "not_a_number", "not a phone number"),
        ("+999 123 456", None, "invalid_country_code", "country code"),
        ("", "US", "not_a_number", "empty"),
    ],
)
def test_what_cannot_be_read_is_refused_with_the_reason(
    written: str, region: str | None, reason: str, says: str
) -> None:
    """An unreadable number raises InvalidNumber with a reason code and a message that says
    why, names the argument and never repeats the number."""
    with pytest.raises(InvalidNumber) as caught:
        to_e164(written, region, what="to_number")
    assert caught.value.reason == reason
    assert str(caught.value).startswith("to_number: ") and says in str(caught.value)
    if written:
        assert written not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_follow_up_keeps_both_numbers_in_e164_with_the_default_region() -> None:
    """ctx.follow_up records E.164 numbers, reading national ones in the default region;
    the body sent to Vocode carries them too."""
    ctx = HandlerContext("evt_1", "c1", "h", 1, default_region="US")
    asked = ctx.follow_up(to_number="(555) 555-0123", from_number="555.555.0199", agent=AGENT_ID)
    assert (asked.to_number, asked.from_number) == ("+15555550123", "+15555550199")
    assert asked.body()["to_number"] == "+15555550123"


def test_follow_up_with_an_unreadable_number_fails_in_the_handler() -> None:
    """An invalid number raises at the call, in the handler, and records nothing."""
    ctx = HandlerContext(event_id="evt_1", call_id="c1", handler="h", attempt=1)
    with pytest.raises(InvalidNumber, match="to_number: no \\+country code"):
        ctx.follow_up(to_number="555-555-0123", from_number="+15555550199", agent=AGENT_ID)
    with pytest.raises(InvalidNumber, match="from_number: "):
        ctx.follow_up(to_number="+15555550123", from_number="12", agent=AGENT_ID)
    assert ctx.follow_ups == []
