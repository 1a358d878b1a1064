"""The loaded handlers: routers found by import string or entry point, checked together."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points

from receiver.delivery.router import HandlerSpec, Router
from receiver.errors import HandlerError
from receiver.events import EVENT_TYPES, UNKNOWN, Event

ENTRY_POINT_GROUP = "receiver.handlers"


class Registry:
    """Every loaded handler by name; decides which handlers an event is delivered to."""

    def __init__(self, routers: Iterable[Router] = ()) -> None:
        self.handlers: dict[str, HandlerSpec] = {}
        self.sources: dict[str, str] = {}
        self._by_type: dict[str, tuple[HandlerSpec, ...]] = {}
        for router in routers:
            self.include(router)

    def include(self, router: Router, source: str = "") -> None:
        for spec in router.handlers:
            if spec.name in self.handlers:
                raise HandlerError(
                    f"handler {spec.name}: loaded twice ({self.sources[spec.name] or 'code'}"
                    f" and {source or 'code'}); give the routers distinct names"
                )
            self.handlers[spec.name] = spec
            self.sources[spec.name] = source
        self._by_type.clear()

    def route(self, event: Event) -> tuple[str, ...]:
        """Names of the handlers that get a delivery of ``event`` (the intake's hot path)."""
        kind = event.type if event.type in EVENT_TYPES else UNKNOWN  # keeps the table bounded
        candidates = self._by_type.get(kind)
        if candidates is None:
            matching = [s for s in self.handlers.values() if not s.types or kind in s.types]
            candidates = self._by_type[kind] = tuple(matching)
        return tuple(spec.name for spec in candidates if spec.when is None or spec.matches(event))

    def __getitem__(self, name: str) -> HandlerSpec:
        return self.handlers[name]

    def __contains__(self, name: object) -> bool:
        return name in self.handlers

    def __len__(self) -> int:
        return len(self.handlers)


def import_router(target: str) -> Router:
    """``"package.module:attribute"`` → the :class:`Router` it names."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise HandlerError(f"RECEIVER_HANDLERS: {target!r} is not of the form 'module:router'")
    try:
        module = importlib.import_module(module_name)
    except HandlerError:
        raise
    except Exception as exc:
        raise HandlerError(f"cannot import {module_name!r} for {target!r}: {exc!r}") from exc
    router = getattr(module, attribute, None)
    if not isinstance(router, Router):
        raise HandlerError(f"{target!r}: {attribute!r} is not a receiver.Router")
    return router


def load_registry(
    targets: Iterable[str], *, entry_point_group: str = ENTRY_POINT_GROUP
) -> Registry:
    """Routers named in ``targets`` (``RECEIVER_HANDLERS``) and by installed entry points."""
    registry = Registry()
    seen: set[int] = set()
    for target in targets:
        router = import_router(target)
        if id(router) not in seen:
            seen.add(id(router))
            registry.include(router, target)
    for entry in entry_points(group=entry_point_group):
        try:
            router = entry.load()
        except Exception as exc:
            raise HandlerError(f"entry point {entry.name!r} ({entry.value}): {exc!r}") from exc
        if not isinstance(router, Router):
            raise HandlerError(f"entry point {entry.name!r} ({entry.value}) is not a Router")
        if id(router) not in seen:
            seen.add(id(router))
            registry.include(router, f"entry point {entry.name}")
    return registry
