"""A hypothesis fuzz of the webhook endpoint over real HTTP: envelopes of every shape, JSON
with NaN, infinities, huge and deep values, truncated and corrupted bodies, random bytes, and
GET queries with dotted keys of any depth. No answer may be a 5xx (or missing), and every
envelope stored must be strict JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bench.reliability.wire import exchange, get, post
from receiver.events import EVENT_TYPES

NORMAL = (
    st.none() | st.booleans() | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=16)
)  # fmt: skip
ODD = st.sampled_from(["\x00", "\U0001f600", "1e400", "\\u0000", float("nan"), -float("inf")])
LEAVES = st.one_of(NORMAL, NORMAL, NORMAL, NORMAL, NORMAL, NORMAL, ODD)  # one leaf in 7 is odd
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
# mostly envelopes that fit (so that storing is exercised too), some that do not
TYPES = st.sampled_from([*EVENT_TYPES, *EVENT_TYPES, "event_new", "", 7, None, ["x"]])
CALL_IDS = st.text(min_size=1, max_size=24) | st.sampled_from([None, 7, "", "c" * 250, "c\x00"])
PAYLOADS = st.dictionaries(st.text(max_size=8), VALUES, max_size=4)
ENVELOPES = st.fixed_dictionaries(
    {"type": TYPES, "call_id": CALL_IDS, "payload": PAYLOADS}, optional={"x": VALUES}
) | st.fixed_dictionaries({"type": TYPES}, optional={"conversation_id": CALL_IDS, "text": VALUES})


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    text = json.dumps(draw(ENVELOPES), allow_nan=True).encode("utf-8", "surrogatepass")
    change = draw(st.sampled_from(["none"] * 6 + ["cut", "insert", "nest", "bytes"]))
    if change == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif change == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=8)) + text[at:]
    elif change == "nest":
        depth = draw(st.integers(1, 400))
        text = text.replace(b'"payload": ', b'"payload": ' + b"[" * depth, 1) + b"]" * depth
    elif change == "bytes":
        text = draw(st.binary(max_size=200))
    return post(text)


@st.composite
def queries(draw: st.DrawFn) -> bytes:
    pairs = []
    if draw(st.integers(0, 4)):  # mostly there
        pairs.append(("type", draw(st.sampled_from(EVENT_TYPES) | st.text(max_size=8))))
    if draw(st.integers(0, 4)):
        pairs.append(("call_id", draw(st.text(min_size=1, max_size=12))))
    for _ in range(draw(st.integers(0, 3))):
        depth = draw(st.integers(0, 20) | st.integers(60, 300))
        part = draw(st.sampled_from(["a", "b", "", "a.b"]))
        dotted = "payload." + ".".join([part] * depth)
        key = draw(st.sampled_from(["payload", dotted, "token", "x"]))
        pairs.append((key, draw(st.text(max_size=10) | VALUES.map(json.dumps))))
    query = "&".join(f"{quote(k)}={quote(v, errors='surrogatepass')}" for k, v in pairs)
    if not draw(st.integers(0, 4)):
        query += draw(st.sampled_from(["&call_id=%ff", "&x=%00", "&payload.y=%ed%a0%80"]))
    return get(query)


@dataclass
class FuzzResult:
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    examples: list[bytes] = field(default_factory=list)  # requests answered 5xx or not at all


def run_fuzz(port: int, examples: int) -> FuzzResult:
    """Send ``examples`` generated requests, one connection each; count the answers."""
    result = FuzzResult()
    loop = asyncio.new_event_loop()

    @settings(
        max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(bodies() | queries())
    def one(request: bytes) -> None:
        status = loop.run_until_complete(exchange(port, request))
        result.sent += 1
        result.statuses[f"{status // 100}xx" if status else "no answer"] += 1
        if status is None or status >= 500:
            result.server_errors += 1
            if len(result.examples) < 5:
                result.examples.append(request[:300])

    try:
        one()
    finally:
        loop.close()
    return result
