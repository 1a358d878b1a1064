"""Group commit for SQLite: one thread owns the write connection and commits in batches.

Callers on the event loop submit small functions (``op(conn) -> result``). The thread takes
every op waiting in its queue, runs them in one transaction, commits once, and resolves all
their futures with one call into the loop. While it commits, the next batch accumulates, so
durability costs one fsync per batch rather than one per request.

Ops submitted during one turn of the event loop reach the thread together, as one list, at
the end of that turn. Handing them over one by one woke the thread at the first op of every
turn: on a busy loop most batches then held a single event, and a commit costs far more CPU
than an insert (it writes every page the transaction touched to the write-ahead log).

Processes writing to the same file take turns (:class:`Turns`): a writer waits in the kernel
for the one before it, instead of in SQLite's busy handler, which sleeps and retries in steps
of milliseconds. Under a steady stream of commits from one process, a second (a
``receiver worker`` beside ``receiver serve``) then got the lock only now and then: it fell
ever further behind while using an eighth of a core.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from receiver.errors import StoreError

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]
_STOP = object()


class Turns:
    """The writers of one database file, in any process, take turns: an exclusive ``flock``
    on a file beside the database (``<database>-lock``) around each write transaction.

    A writer that finds the lock taken sleeps in the kernel and wakes as soon as it is free.
    SQLite's own lock stays the rule (a writer that does not take turns, such as another
    program, is still kept out by it, through the busy timeout); this only decides who tries
    next.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = -1

    def open(self) -> None:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # the GIL is released while it waits
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


class Writer:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        batch_max: int,
        turns: Turns | None = None,
    ) -> None:
        self._connect = connect
        self._batch_max = batch_max
        self._turns = turns
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()  # lists of ops, or _STOP
        self._pending: list[Any] = []  # submitted during this turn of the loop
        self._lock = threading.Lock()  # orders hand-overs against stop()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="receiver-sqlite-writer", daemon=True
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self.after_commit: Callable[[], None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread.start()
        self._started.wait()
        if self._failure is not None:
            raise StoreError(f"cannot open the SQLite database: {self._failure}")

    def submit(
        self, op: Callable[[sqlite3.Connection], T], *, notify: bool = False
    ) -> asyncio.Future[T]:
        """Queue ``op``; with ``notify``, ``after_commit`` runs once its batch is committed."""
        if self._loop is None:
            raise StoreError("the store is open read-only")
        if not self._thread.is_alive():  # nobody would ever resolve the future
            raise StoreError("the store is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._pending.append((op, future, notify))
        if len(self._pending) == 1:
            self._loop.call_soon(self._hand_over)
        return future

    def _hand_over(self) -> None:
        batch, self._pending = self._pending, []
        with self._lock:
            if not self._stopping:
                self._queue.put(batch)
                return
        for _, future, _ in batch:  # stop() came first: the thread will not take these
            if not future.done():
                future.set_exception(StoreError("the store is closed"))

    def stop(self) -> None:
        """Commit what was handed over, then end the thread; later ops fail with StoreError."""
        with self._lock:
            self._stopping = True
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            conn = self._connect()
            if self._turns is not None:
                self._turns.open()
        except Exception as exc:  # reported by start()
            self._failure = exc
            self._started.set()
            return
        self._started.set()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                ops, stop = list(item), False
                while len(ops) < self._batch_max:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    ops.extend(item)
                for start in range(0, len(ops), self._batch_max):
                    batch = ops[start : start + self._batch_max]
                    with self._turns.turn() if self._turns else contextlib.nullcontext():
                        results = self._run_batch(conn, batch)
                    assert self._loop is not None
                    try:
                        self._loop.call_soon_threadsafe(
                            _resolve, batch, results, self.after_commit
                        )
                    except RuntimeError:  # the loop is closed: nobody is waiting any more
                        return
                if stop:
                    return
        finally:
            conn.close()
            if self._turns is not None:
                self._turns.close()

    @staticmethod
    def _run_batch(conn: sqlite3.Connection, batch: list[Any]) -> list[tuple[bool, Any]]:
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [(True, op(conn)) for op, _, _ in batch]
            conn.execute("COMMIT")
            return results
        except Exception:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        # One op failed: run each on its own so that the others still commit.
        results = []
        for op, _, _ in batch:
            try:
                conn.execute("BEGIN IMMEDIATE")
                value = op(conn)
                conn.execute("COMMIT")
                results.append((True, value))
            except Exception as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                results.append((False, exc))
        return results


def _resolve(
    batch: list[Any], results: list[tuple[bool, Any]], after_commit: Callable[[], None] | None
) -> None:
    notify = False
    for (_, future, wants_notify), (ok, value) in zip(batch, results, strict=True):
        notify = notify or (ok and wants_notify)
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            error = value if isinstance(value, StoreError) else StoreError(str(value))
            future.set_exception(error)
    if notify and after_commit is not None:
        after_commit()
