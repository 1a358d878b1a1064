"""What a set of processes has cost so far, read from /proc (Linux): CPU time and peak memory.

A process's CPU is its own ``utime + stime`` plus ``cutime + cstime``, which hold the children
it has reaped; a tree is a process and every live descendant. Summing that over a tree counts
each CPU second once: a live child counts itself, a reaped one counts in its parent.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (index 0 is the state)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def parent(pid: int) -> int:
    fields = _stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(pid)
    return int(fields[1])


def _children() -> dict[int, list[int]]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry))
    return parents


def tree(roots: Iterable[int]) -> list[int]:
    """``roots`` and every live descendant of them."""
    children = _children()
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.append(pid)
            todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(pid: int, *, reaped: bool = True) -> float:
    """User + system CPU of ``pid`` (0 once it is gone), with its reaped children's."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def tree_cpu_seconds(roots: Iterable[int]) -> float:
    """CPU of ``roots`` and all their descendants, live or reaped."""
    return sum(cpu_seconds(pid) for pid in tree(roots))


def peak_rss_bytes(roots: Iterable[int]) -> int:
    """Sum of VmHWM (each process's peak resident memory) over the trees of ``roots``."""
    total = 0
    for pid in tree(roots):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) * 1024
    return total
