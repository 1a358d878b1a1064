"""Phone numbers in E.164, the one form in which the guards compare and the store keeps them.

``+1 (555) 555-0123``, ``+1.555.555.0123`` and, with the default region ``US``,
``555-555-0123`` and ``(555) 555 0123`` are all ``+15555550123``. Parsing is libphonenumber's
(``phonenumbers``). A number is accepted when it is *possible* for its country (the right
number of digits), not only when its range is known to be allocated: numbering plans change
faster than any installed copy of libphonenumber's metadata, and refusing a real person's
number (on the do-not-call list above all) because of old metadata would be the worse error.

Example::

    to_e164("555-555-0123", "US")   # '+15555550123'
    to_e164("020 7946 0018", "GB")  # '+442079460018'
    to_e164("555-0123", "US")       # InvalidNumber: too short (no area code)
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from receiver.errors import InvalidNumber

_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: ("invalid_country_code", "unknown country code"),
    NumberParseException.NOT_A_NUMBER: ("not_a_number", "not a phone number"),
    NumberParseException.TOO_SHORT_AFTER_IDD: ("too_short", "too short"),
    NumberParseException.TOO_SHORT_NSN: ("too_short", "too short"),
    NumberParseException.TOO_LONG: ("too_long", "too long"),
}
_NOT_POSSIBLE = {
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: ("too_short", "too short: no area code"),
    ValidationResult.INVALID_COUNTRY_CODE: ("invalid_country_code", "unknown country code"),
    ValidationResult.TOO_SHORT: ("too_short", "too short for its country"),
    ValidationResult.INVALID_LENGTH: ("invalid_length", "wrong number of digits for its country"),
    ValidationResult.TOO_LONG: ("too_long", "too long for its country"),
}


def to_e164(number: str, region: str | None = None, *, what: str = "number") -> str:
    """``number`` in E.164 (``+15555550123``); written without ``+country code``, it is read
    as a number of ``region`` (``RECEIVER_DEFAULT_REGION``).

    Raises :class:`InvalidNumber` (a ``ValueError``) saying why, and naming ``what`` (the
    argument, e.g. ``to_number``) but never the number itself, which may end up in a log.
    """
    if not isinstance(number, str) or not number.strip():
        raise InvalidNumber(f"{what}: empty; expected a phone number such as +15555550123")
    try:
        parsed = phonenumbers.parse(number, region)
    except NumberParseException as exc:
        no_code = exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and not region
        if no_code and not number.lstrip().startswith(("+", "00")):
            raise _invalid(
                what,
                "no_country_code",
                "no +country code, and RECEIVER_DEFAULT_REGION is not set; write it as "
                "+<country code><number> (E.164) or set RECEIVER_DEFAULT_REGION (e.g. US)",
            ) from None
        code, text = _PARSE_ERRORS.get(exc.error_type, ("not_a_number", "not a phone number"))
        raise _invalid(what, code, text) from None
    result = phonenumbers.is_possible_number_with_reason(parsed)
    if result != ValidationResult.IS_POSSIBLE:
        code, text = _NOT_POSSIBLE.get(result, ("not_a_number", "not a phone number"))
        raise _invalid(what, code, text)
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


def _invalid(what: str, code: str, text: str) -> InvalidNumber:
    error = InvalidNumber(f"{what}: {text}")
    error.reason = code
    return error
