"""The sample bodies shipped in ``receiver/samples/``: one per event type, plus the
create-call request, its answer and a 422 answer.

Example::

    from receiver.vocode.fake.samples import load_sample

    body = load_sample("event_message")  # a fresh dict each time
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def sample_names() -> list[str]:
    """Every sample's name (its file name without ``.json``), sorted."""
    folder = resources.files("receiver") / "samples"
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def load_sample(name: str) -> dict[str, Any]:
    """A fresh copy of the sample ``name``; ``KeyError`` when there is none."""
    path = resources.files("receiver") / "samples" / f"{name}.json"
    if not path.is_file():
        raise KeyError(f"no sample {name!r}; expected one of {sample_names()}")
    body: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return body
