"""The reliability suite's short form runs with the tests, so CI runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process
ROOT = Path(__file__).resolve().parent.parent


def test_the_short_reliability_suite_holds(tmp_path: Path) -> None:
    """`python -m bench reliability --short` exits 0: every check of its table holds (bad
    input on both stores when PostgreSQL is there, fuzz, kills, faults, disk full, attacks)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "reliability", "--short", "--work", str(tmp_path),
         "--out", str(tmp_path / "reliability.json")],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    print(done.stdout)  # the table, in the test's output
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
