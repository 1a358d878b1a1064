"""Registering handlers: one ``Router`` per module, ``@router.on(event_type, ...)``.

Example::

    from receiver import HandlerContext, Router
    from receiver.events import MessageEvent

    router = Router("crm")

    @router.on("event_message", max_attempts=5, timeout=10)
    async def save_message(event: MessageEvent, ctx: HandlerContext) -> None:
        ...

A handler's name is ``<router>.<function>`` unless given with ``name=``. Mistakes (an unknown
event type, a wrong signature, a duplicate name) raise :class:`HandlerError` at import time,
so the service refuses to start instead of failing at delivery.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from receiver.errors import HandlerError
from receiver.events import EVENT_TYPES, Event

ALL = "*"
Predicate = Callable[[Event], bool]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """A registered handler and its options."""

    name: str
    func: Callable[..., Any]
    types: frozenset[str]  # empty means every type ("*"), unknown types included
    max_attempts: int = 10
    timeout: float = 30.0
    ordered: bool = True
    concurrency: int | None = None
    when: Predicate | None = None
    is_async: bool = True
    enrich: bool = False  # ctx.call: the Call, fetched once per event

    def matches(self, event: Event) -> bool:
        """Whether ``event`` gets a delivery for this handler (a raising ``when`` counts as yes)."""
        if self.types and event.type not in self.types:
            return False
        if self.when is None:
            return True
        try:
            return bool(self.when(event))
        except Exception:  # decided again at delivery time, where the error is recorded
            return True


def _check_signature(name: str, func: Callable[..., Any]) -> None:
    if not callable(func):
        raise HandlerError(f"handler {name}: not callable")
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError) as exc:
        raise HandlerError(f"handler {name}: cannot read its signature ({exc})") from None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required_other = [
        p for p in params if p.kind is p.KEYWORD_ONLY and p.default is inspect.Parameter.empty
    ]
    if len(positional) != 2 or required_other:
        raise HandlerError(
            f"handler {name}: expected the signature (event, ctx), got {inspect.signature(func)}"
        )


class Router:
    """A named group of handlers, loaded by import string (``"package.module:router"``)."""

    def __init__(self, name: str) -> None:
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise HandlerError(f"router name {name!r}: use letters, digits, '-' and '_'")
        self.name = name
        self.handlers: list[HandlerSpec] = []

    def on(
        self,
        *event_types: str,
        name: str | None = None,
        max_attempts: int = 10,
        timeout: float = 30.0,
        ordered: bool = True,
        concurrency: int | None = None,
        when: Predicate | None = None,
        enrich: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register the decorated function for ``event_types`` (``"*"`` for every type).

        With ``enrich``, the handler gets the call as ``GET /v1/calls?id=`` answers it, in
        ``ctx.call``: fetched once per event whatever the number of such handlers."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            full = f"{self.name}.{name or getattr(func, '__name__', 'handler')}"
            self.add(
                HandlerSpec(
                    name=full,
                    func=func,
                    types=_types(full, event_types),
                    max_attempts=_positive(full, "max_attempts", max_attempts),
                    timeout=_positive(full, "timeout", timeout),
                    ordered=ordered,
                    concurrency=concurrency and _positive(full, "concurrency", concurrency),
                    when=when,
                    is_async=inspect.iscoroutinefunction(func),
                    enrich=enrich,
                )
            )
            return func

        return register

    def add(self, spec: HandlerSpec) -> None:
        _check_signature(spec.name, spec.func)
        if any(h.name == spec.name for h in self.handlers):
            raise HandlerError(f"handler {spec.name}: registered twice")
        self.handlers.append(spec)


def _types(name: str, event_types: tuple[str, ...]) -> frozenset[str]:
    if not event_types:
        raise HandlerError(f"handler {name}: name at least one event type, or '*'")
    if ALL in event_types:
        return frozenset()
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise HandlerError(
            f"handler {name}: unknown event type {unknown[0]!r}; expected '*' or one of "
            + ", ".join(EVENT_TYPES)
        )
    return frozenset(event_types)


def _positive(name: str, option: str, value: Any) -> Any:
    if not isinstance(value, int | float) or value <= 0:
        raise HandlerError(f"handler {name}: {option} must be a positive number, got {value!r}")
    return value
