"""How each store operation is written once for both dialects: as a plan.

An operation is a *plan*: a generator that yields the statements to run and receives each
one's result (rows for :class:`Fetch`, a row count for :class:`Execute`), then returns the
operation's answer. It never touches a connection. Each dialect runs plans its own way — the
SQLite store inside its writer thread's transaction (synchronously, so that group commit
holds), the PostgreSQL store on a pooled connection in a transaction (asynchronously) — and
supplies the SQL that differs between the two (:class:`~receiver.store.queries.Queries`).
An error raised by a statement is thrown into the plan at the ``yield``, so a plan may catch
it.

Statements use ``:name`` parameters; list values stand for SQL arrays (see
:meth:`Queries.any_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
Row = Sequence[Any]


@dataclass(frozen=True, slots=True)
class Fetch:
    """Run ``sql`` and send back its rows."""

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Execute:
    """Run ``sql`` and send back how many rows it changed."""

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Script:
    """Run several ``;``-separated statements without parameters (a schema version)."""

    sql: str


Step = Fetch | Execute | Script
Plan = Generator[Step, Any, T]


class Driver(Generic[T]):
    """Steps a plan: ``step`` is what to run next until ``done``, then ``value`` is its answer.

    A runner is a loop: run ``step``; hand the result to :meth:`send`, or the error to
    :meth:`throw`.
    """

    def __init__(self, plan: Plan[T]) -> None:
        self._plan = plan
        self.done = False
        self.value: T | None = None
        self.step: Step = Script("")
        self._resume(lambda: next(plan))

    def answer(self) -> T:
        """The plan's answer, once it is done."""
        assert self.done, "the plan has not finished"
        return cast(T, self.value)

    def send(self, result: Any) -> None:
        self._resume(lambda: self._plan.send(result))

    def throw(self, error: BaseException) -> None:
        self._resume(lambda: self._plan.throw(error))

    def _resume(self, advance: Any) -> None:
        try:
            self.step = advance()
        except StopIteration as stop:
            self.done, self.value = True, stop.value


@dataclass(frozen=True, slots=True)
class Version:
    """One schema version: a script of ``;``-separated statements, then (if any) a plan that
    rewrites data, given the default region of phone numbers (``RECEIVER_DEFAULT_REGION``).

    Version n of ``store/sqlite/schema.py`` and of ``store/postgres/schema.py`` make the same
    change and have the same title (``receiver migrate --status`` shows it)."""

    title: str
    script: str = ""
    rewrite: Callable[[str | None], Plan[None]] | None = None


def where_sql(clauses: Any) -> str:
    clauses = list(clauses)
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""
