"""``python -m bench scale`` at a tiny size: it runs end to end and prints sane figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed"),
]


def test_scale_bench_prints_its_table(tmp_path) -> None:
    """Two small backlogs on SQLite: one table, every figure present and plausible."""
    out = tmp_path / "scale.json"
    args = ["--sizes", "100,1000", "--backends", "sqlite", "--claims", "20", "--duration", "1"]
    args += ["--warmup", "1", "--work-seconds", "1", "--no-pin", "--work", str(tmp_path)]
    run = subprocess.run(
        [sys.executable, "-m", "bench", "scale", *args, "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "sqlite: pending deliveries" in run.stdout
    assert "claim, ordered: p50 ms" in run.stdout and "1k÷100" in run.stdout
    point = json.loads(out.read_text())["backends"]["sqlite"]["points"]["1000"]
    assert 0 < point["unordered.claim_p50_ms"] < 1000
    assert 0 < point["ordered.claim_p50_ms"] < 1000
    assert point["unordered.batch"] == 64 and point["ordered.batch"] == 64
    assert point["intake_rps"] > 0 and point["intake_failures"] == 0
    assert 20 < point["serve_rss_mb"] < 1000 and 20 < point["worker_rss_mb"] < 1000
    assert point["serve_done"] == 500  # the default handler's half of the backlog
