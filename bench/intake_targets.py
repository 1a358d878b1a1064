"""The targets of the intake benchmark: what serves, how, from which revision of the code."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.revisions import checkout

ROOT = Path(__file__).resolve().parent.parent
CONSOLE_TOKEN = "bench-console-token-0123456789"


@dataclass(frozen=True)
class Target:
    name: str
    app: str
    env: dict[str, str] = field(default_factory=dict)
    receiver: bool = True
    stores: bool = True  # False: a diagnostic that answers 202 without storing
    bounded: bool = False  # served as `receiver serve` serves (the HTTP bounds), not plain uvicorn
    tail: bool = False  # a console open on the live tail for the whole run


TARGETS = {
    "bare": Target("bare", "bench.bare_app:app", receiver=False),
    "full": Target("receiver FULL", "bench.receiver_app:intake"),
    "normal": Target(
        "receiver NORMAL", "bench.receiver_app:intake", {"RECEIVER_SQLITE_SYNCHRONOUS": "NORMAL"}
    ),
    "quiet": Target(
        "receiver FULL, logs WARNING", "bench.receiver_app:intake",
        {"RECEIVER_LOG_LEVEL": "WARNING"},
    ),
    "bounded": Target("receiver FULL, HTTP bounds", "bench.receiver_app:intake", bounded=True),
    "console": Target(
        "receiver FULL, console tail open", "bench.receiver_app:intake",
        {"RECEIVER_CONSOLE_TOKENS": CONSOLE_TOKEN}, tail=True,
    ),
    "nowrite": Target(
        "receiver, no write, logs WARNING", "bench.receiver_app:intake_without_writes",
        {"RECEIVER_LOG_LEVEL": "WARNING"}, stores=False,
    ),
}  # fmt: skip


def baseline_target(revision: str, work: Path) -> Target:
    """``full`` with the code of ``revision`` (``git archive`` of it, first on PYTHONPATH):
    an earlier version measured in the same rounds as this one."""
    where = checkout(revision, work / f"baseline-{revision.replace('/', '_')}")
    return Target(f"receiver FULL at {revision}", "bench.receiver_app:intake",
                  {"PYTHONPATH": str(where)})  # fmt: skip
