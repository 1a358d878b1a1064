"""Disk full: the receiver's SQLite file on a small tmpfs, filled to the last byte while
events keep coming. Every write must be answered 503 while it is full (nothing acknowledged
that is not stored), ``/readyz`` must say so, and both must recover once space is freed.

The tmpfs is mounted directly when this process is root; otherwise the receiver is started
in a user and mount namespace of its own (``unshare -rm``) that mounts it, and the disk is
reached through ``/proc/<pid>/root``. Where neither works, the part is not measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.reliability.proc import Receiver, base_env
from bench.reliability.wire import KeepAlive, event

SIZE_MIB = 8


class SmallDisk:
    """A tmpfs of :data:`SIZE_MIB` for one receiver; ``how`` says how it was mounted."""

    def __init__(self, work: Path) -> None:
        self.dir = work / "disk"
        self.dir.mkdir(exist_ok=True)
        self.wrap: tuple[str, ...] = ()
        self.how = ""
        self._mounted = False

    def prepare(self) -> str | None:
        """Mount (or plan to mount) the tmpfs; None when ready, else why it cannot be."""
        opts = ["-t", "tmpfs", "-o", f"size={SIZE_MIB}m", "tmpfs", str(self.dir)]
        if os.geteuid() == 0:
            done = subprocess.run(["mount", *opts], capture_output=True, text=True)
            if done.returncode == 0:
                self._mounted, self.how = True, f"tmpfs of {SIZE_MIB} MiB (mounted as root)"
                return None
            return f"mount failed: {done.stderr.strip()}"
        if shutil.which("unshare") and subprocess.run(
            ["unshare", "-rm", "mount", *opts], capture_output=True
        ).returncode == 0:
            script = f"mount {' '.join(opts)} && exec \"$0\" \"$@\""
            self.wrap = ("unshare", "-rm", "sh", "-c", script)
            self.how = f"tmpfs of {SIZE_MIB} MiB (in the receiver's own user namespace)"
            return None
        return "not root, and no user namespaces (unshare -rm) to mount a tmpfs in"

    def view(self, receiver: Receiver) -> Path:
        """The disk as this process reaches it."""
        return self.dir if not self.wrap else Path(f"/proc/{receiver.pid}/root{self.dir}")

    def release(self) -> None:
        if self._mounted:
            subprocess.run(["umount", "-l", str(self.dir)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte with one file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def _stored_ids(view: Path, copy: Path) -> set[str]:
    """The ids stored, read from a copy of the database files (the receiver is idle): SQLite
    resolves ``/proc/<pid>/root`` to this process's root, not the receiver's."""
    copy.mkdir(exist_ok=True)
    for suffix in ("", "-wal"):
        source = view / f"receiver.db{suffix}"
        if source.exists():
            shutil.copyfile(source, copy / f"receiver.db{suffix}")
    db = sqlite3.connect(copy / "receiver.db")
    try:
        return {row[0] for row in db.execute("SELECT id FROM events")}
    finally:
        db.close()


@dataclass
class DiskResult:
    how: str
    writes_while_full: int
    refused_503: int
    acknowledged_while_full: int  # answered 2xx while full (they must be stored)
    other: int  # anything but 503 or 2xx
    ready_while_full: int
    ready_after: int
    accepted_after: int
    lost: int  # acknowledged at any time, not stored


async def run_disk(work: Path, writes: int) -> DiskResult | str:
    """The scenario; a string says why it could not run."""
    disk = SmallDisk(work)
    reason = disk.prepare()
    if reason is not None:
        return reason
    env = base_env(RECEIVER_DATABASE_URL=f"sqlite:///{disk.dir / 'receiver.db'}")
    receiver = Receiver(work, "disk", env, wrap=disk.wrap)
    try:
        await asyncio.to_thread(receiver.start)
        return await _scenario(receiver, disk, writes)
    finally:
        receiver.stop()
        disk.release()


async def _scenario(receiver: Receiver, disk: SmallDisk, writes: int) -> DiskResult:
    conn, acked = KeepAlive(receiver.port), set()

    async def send(call_id: str) -> int:
        try:
            status, answer, _ = await conn.post(event(call_id, text="x" * 2000))
        except OSError:
            return 0
        if status in (200, 202):
            acked.add(answer["id"])
        return status

    for n in range(20):
        await send(f"before-{n}")
    view = disk.view(receiver)
    filler = await asyncio.to_thread(fill, view)
    while_full = [await send(f"full-{n}") for n in range(writes)]
    ready_full = await asyncio.to_thread(receiver.ready)
    filler.unlink()
    deadline = time.monotonic() + 30
    while (ready_after := await asyncio.to_thread(receiver.ready)) != 200:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    after = [await send(f"after-{n}") for n in range(20)]
    await conn.close()
    stored = _stored_ids(view, receiver.work / "disk-copy")
    return DiskResult(
        how=disk.how, writes_while_full=writes,
        refused_503=while_full.count(503),
        acknowledged_while_full=sum(1 for s in while_full if s in (200, 202)),
        other=sum(1 for s in while_full if s not in (200, 202, 503)),
        ready_while_full=ready_full, ready_after=ready_after,
        accepted_after=sum(1 for s in after if s == 202), lost=len(acked - stored),
    )  # fmt: skip
