"""``python -m bench pipeline``, briefly: bare Starlette and the receiver, one short point each."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (apt-get install wrk)"),
]


def _row(output: str, target: str) -> list[str]:
    """The cells of ``target``'s row in the printed table."""
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if len(cells) > 2 and cells[1] == target:
            return cells
    raise AssertionError(f"no row for {target} in:\n{output}")


def _number(cell: str) -> float:
    return float(cell.replace(",", "")) if cell not in ("—", "") else 0.0


def test_pipeline_prints_both_targets_with_acks_and_e2e(tmp_path: Path) -> None:
    """Both targets are in the table; each acknowledged events, and the receiver handled them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    env["COLUMNS"] = "200"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "pipeline", "--targets", "bare,receiver", "--duration",
         "1", "--connections", "8", "--rounds", "1", "--json", str(tmp_path / "out.json")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr + run.stdout
    bare, receiver = _row(run.stdout, "bare"), _row(run.stdout, "receiver")
    ack, e2e = 3, 6  # the columns: rounds, target, conns, ack req/s, p50, p99, e2e ev/s, ...
    assert _number(bare[ack]) > 0
    assert _number(receiver[ack]) > 0
    assert _number(receiver[e2e]) > 0
