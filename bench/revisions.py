"""Another revision's code beside this checkout: the figures before a change, measured in the
same rounds as after it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def checkout(revision: str, where: Path, *paths: str) -> Path:
    """The files of ``revision`` (``git archive``; only ``paths`` when given) in ``where``,
    extracted once. They are extracted beside it and then renamed into place, so that a
    revision that does not exist, or an extraction cut short, leaves nothing that looks done."""
    if where.exists():
        return where
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, *paths], capture_output=True, check=True
    )
    partial = where.with_name(where.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(partial)], input=archive.stdout, check=True)
    partial.rename(where)
    return where
