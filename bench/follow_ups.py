"""Follow-up benchmark: intents sent per second through the outbox, against the same number of
direct ``create_call`` requests, at the same concurrency, against the fake Vocode API with
20 ms of latency on every create.

    python -m bench follow-ups                       # 2 rounds, concurrency 4 and 32
    python -m bench follow-ups --repeats 1 --per-slot 25

The fake (``receiver fake-vocode``) runs as a subprocess, so that its work is not this
process's; before each point it is scripted with one ``Fault.delay(0.02)`` per request.

- outbox: ``N`` intents recorded as successful handlers record them (one event, delivery and
  follow-up each, distinct numbers), then the real :class:`~receiver.sender.Sender` on the
  store, from start until the ``N``-th is ``created`` (counted where the sender counts it).
  Its defaults (``RECEIVER_FOLLOW_UP_CONCURRENCY=4``, ``RECEIVER_FOLLOW_UP_RATE_PER_SECOND=5``)
  are raised: concurrency to the point's, the rate cap to 1,000,000/s (no cap).
- direct: ``N`` ``client.create_call`` with the same bodies, ``concurrency`` at a time.

Both log as ``receiver serve`` does (JSON at INFO, here to /dev/null). The overhead is the
extra time one intent holds one of the ``concurrency`` slots, and the extra CPU per intent.
Rounds alternate which path goes first.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.table import Table

from bench.preload import fresh_db, preload
from bench.server import free_port
from receiver.follow_ups.intent import FOLLOW_UP_DEPTH, FOLLOW_UP_KEY, FollowUpRequest
from receiver.follow_ups.sender import Sender
from receiver.logs import configure
from receiver.loop import running
from receiver.metrics import Metrics
from receiver.settings import load_settings
from receiver.store import create_store
from receiver.store.records import Finish
from receiver.vocode.client import VocodeClient

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-api-key-0123456789"
AGENT = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"
HANDLER = "bench.call_back"
LATENCY = 0.02


@dataclass
class Point:
    round: int
    path: str  # outbox or direct
    concurrency: int
    intents: int
    seconds: float
    cpu_seconds: float
    created: int

    @property
    def rate(self) -> float:
        return self.intents / self.seconds


class _Counting(Metrics):
    def __init__(self, target: int) -> None:
        super().__init__()
        self.target, self.created = target, 0
        self.all_created = asyncio.Event()

    def follow_up(self, outcome: str) -> None:
        super().follow_up(outcome)
        if outcome == "created":
            self.created += 1
            if self.created >= self.target:
                self.all_created.set()


class FakeApi:
    """``receiver fake-vocode`` on a free port, as a subprocess."""

    def __init__(self, log: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        cmd = [sys.executable, "-m", "receiver", "fake-vocode", "--port", self.url.rsplit(":")[-1]]
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [*cmd, "--api-key", API_KEY], stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.url}/_fake/faults", timeout=1).raise_for_status()
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise click.ClickException(f"the fake did not start; see {log}") from None
                time.sleep(0.1)

    def delay_next(self, n: int) -> None:
        faults = {"faults": [{"kind": "delay", "latency": LATENCY}], "times": n}
        httpx.delete(f"{self.url}/_fake/faults").raise_for_status()
        httpx.post(f"{self.url}/_fake/faults", json=faults, timeout=30).raise_for_status()

    def pending_faults(self) -> int:
        return len(httpx.get(f"{self.url}/_fake/faults", timeout=30).json()["pending"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _request(n: int, event_id: str, call_id: str) -> FollowUpRequest:
    return FollowUpRequest(
        key=f"{event_id}/{HANDLER}/1",
        call_id=call_id,
        to_number=f"+1555{n:07d}",
        from_number="+15555550199",
        agent=AGENT,
        context={"n": str(n)},
        not_before=time.time(),
        options={},
    )


def _body(request: FollowUpRequest) -> dict[str, Any]:
    """What the sender posts for ``request`` (its key and depth in the context)."""
    return {
        **request.options,
        "to_number": request.to_number,
        "from_number": request.from_number,
        "agent": request.agent,
        "context": {**request.context, FOLLOW_UP_KEY: request.key, FOLLOW_UP_DEPTH: "1"},
    }


async def _record_intents(store: Any, n: int) -> None:
    """``n`` events whose handler succeeded asking for one follow-up each, as the worker
    records them (claim, then finish with the follow-up)."""
    await preload(store, n, n, (HANDLER,), event_type="event_phone_call_did_not_connect")
    while claimed := await store.claim({HANDLER: 500}, frozenset(), {HANDLER: 600.0}):
        finishes = [
            Finish(c.id, c.attempt, "done", follow_ups=(_request(c.id, c.event_id, c.call_id),))
            for c in claimed
        ]
        assert all(a is True for a in await store.finish_many(finishes))


async def outbox_point(
    work: Path, fake: FakeApi, round_no: int, concurrency: int, n: int, timeout: float
) -> Point:
    db = fresh_db(work / "follow-ups.db")
    settings = load_settings(
        database_url=f"sqlite:///{db}",
        log_format="json",
        follow_up_concurrency=concurrency,
        follow_up_rate_per_second=1_000_000,
        vocode_api_key=API_KEY,
        vocode_base_url=fake.url,
    )
    configure(settings, stream=open(os.devnull, "w"))  # noqa: SIM115 - production's log lines
    store = create_store(settings)
    await store.open()
    try:
        await _record_intents(store, n)
        fake.delay_next(n)
        metrics = _Counting(n)
        async with VocodeClient.from_settings(settings) as client:
            sender = Sender(store, client, settings, metrics=metrics)
            started, cpu = time.perf_counter(), _cpu()
            async with running(sender, store):
                await asyncio.wait_for(metrics.all_created.wait(), timeout)
                seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    finally:
        await store.close()
    return Point(round_no, "outbox", concurrency, n, seconds, cpu, metrics.created)


async def direct_point(
    fake: FakeApi, round_no: int, concurrency: int, n: int, timeout: float
) -> Point:
    settings = load_settings(log_format="json", vocode_api_key=API_KEY, vocode_base_url=fake.url)
    configure(settings, stream=open(os.devnull, "w"))  # noqa: SIM115
    bodies = [_body(_request(i, f"evt_direct_{i}", f"call-{i}")) for i in range(n)]
    fake.delay_next(n)
    slots = asyncio.Semaphore(concurrency)
    created = 0
    async with VocodeClient.from_settings(settings) as client:

        async def create(body: dict[str, Any]) -> None:
            nonlocal created
            async with slots:
                await client.create_call(body)
                created += 1

        started, cpu = time.perf_counter(), _cpu()
        await asyncio.wait_for(asyncio.gather(*(create(b) for b in bodies)), timeout)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    return Point(round_no, "direct", concurrency, n, seconds, cpu, created)


def _rows(points: list[Point]) -> list[dict[str, Any]]:
    direct = {(p.round, p.concurrency): p for p in points if p.path == "direct"}
    rows = []
    for p in points:
        d = direct[(p.round, p.concurrency)]
        rows.append({
            **asdict(p),
            "rate": p.rate,
            "cpu_us_per_intent": p.cpu_seconds / p.intents * 1e6,
            "ratio": p.rate / d.rate,
            "slot_ms_per_intent": p.seconds * p.concurrency / p.intents * 1000,
            "overhead_slot_ms": (p.seconds - d.seconds) * p.concurrency / p.intents * 1000,
            "overhead_cpu_us": (p.cpu_seconds - d.cpu_seconds) / p.intents * 1e6,
        })  # fmt: skip
    return rows


def _summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for path, concurrency in dict.fromkeys((r["path"], r["concurrency"]) for r in rows):
        group = [r for r in rows if (r["path"], r["concurrency"]) == (path, concurrency)]
        mean = {k: statistics.mean(r[k] for r in group) for k in (
            "rate", "cpu_us_per_intent", "ratio", "slot_ms_per_intent", "overhead_slot_ms",
            "overhead_cpu_us")}  # fmt: skip
        out.append({"path": path, "concurrency": concurrency, "rounds": len(group),
                    "intents": group[0]["intents"], **mean,
                    "rate_min": min(r["rate"] for r in group)})  # fmt: skip
    return out


def _table(title: str, rows: list[dict[str, Any]], first: str) -> Table:
    table = Table(title=title, title_justify="left")
    columns = (first, "path", "conc.", "intents", "per s", "vs direct", "slot ms each",
               "overhead ms", "CPU µs each", "overhead CPU µs")  # fmt: skip
    for name in columns:
        table.add_column(name, justify="left" if name == "path" else "right")
    for r in rows:
        table.add_row(
            str(r[first]), r["path"], str(r["concurrency"]), f"{r['intents']:,}",
            f"{r['rate']:,.0f}", f"{r['ratio']:.2f}", f"{r['slot_ms_per_intent']:.1f}",
            f"{r['overhead_slot_ms']:.1f}", f"{r['cpu_us_per_intent']:.0f}",
            f"{r['overhead_cpu_us']:.0f}",
        )  # fmt: skip
    return table


@click.command()
@click.option("--concurrency", default="4,32", show_default=True, help="Comma-separated points.")
@click.option("--per-slot", default=50, show_default=True,
              help="Intents per point: this times the concurrency.")  # fmt: skip
@click.option("--repeats", default=2, show_default=True, help="Rounds (every point this often).")
@click.option("--timeout", default=120.0, show_default=True, help="Bound on one point.")
@click.option("--out", default=str(ROOT / ".bench" / "follow_ups.json"), show_default=True)
def main(concurrency: str, per_slot: int, repeats: int, timeout: float, out: str) -> None:
    """Follow-ups sent per second through the outbox vs direct create_call, one run."""
    out_path = Path(out)
    work = out_path.parent
    work.mkdir(parents=True, exist_ok=True)
    levels = [int(c) for c in concurrency.split(",")]
    console = Console(width=None if sys.stdout.isatty() else 150)
    console.print(
        f"fake Vocode API with {LATENCY * 1000:g} ms per create; concurrency {levels}; "
        f"{per_slot} intents per slot; {repeats} round(s); the rate cap raised to 1,000,000/s"
    )
    fake = FakeApi(work / "follow-ups-fake.log")
    points: list[Point] = []
    started = time.time()
    try:
        for round_no in range(1, repeats + 1):
            for c in levels:
                n = per_slot * c
                order = ("outbox", "direct") if round_no % 2 else ("direct", "outbox")
                for path in order:
                    console.print(f"round {round_no}: {path}, concurrency {c}, {n} intents ...")
                    if path == "outbox":
                        point = asyncio.run(outbox_point(work, fake, round_no, c, n, timeout))
                    else:
                        point = asyncio.run(direct_point(fake, round_no, c, n, timeout))
                    points.append(point)
                    if fake.pending_faults():
                        raise click.ClickException("the fake was sent fewer creates than asked")
    finally:
        fake.stop()
    rows = _rows(points)
    summary = _summary(rows)
    console.print(_table("Follow-ups, every run", rows, "round"))
    console.print(_table(f"Follow-ups, mean of {repeats} round(s)",
                         [{**s, "n": s["rounds"]} for s in summary], "n"))  # fmt: skip
    report = {
        "started_at": started,
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "options": {"concurrency": levels, "per_slot": per_slot, "repeats": repeats,
                    "latency_seconds": LATENCY, "rate_cap_per_second": 1_000_000,
                    "sender_defaults": {"follow_up_concurrency": 4,
                                        "follow_up_rate_per_second": 5.0}},
        "runs": rows,
        "summary": summary,
    }  # fmt: skip
    out_path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {out_path}")
    short = [r for r in rows if r["created"] < r["intents"]]
    if short:
        raise click.ClickException(f"{len(short)} runs created fewer calls than intents")
