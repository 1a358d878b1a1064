"""The receiver's app for the benchmark, as ``uvicorn --factory`` targets.

Settings come from ``RECEIVER_*`` like in production (tokens set, SQLite with synchronous
FULL unless the benchmark asks for NORMAL, the default handler so that every event also
gets its delivery row, logs at INFO); logs are configured as ``receiver serve`` does.
``intake`` is ``receiver serve`` without the worker, as when workers run in ``receiver
worker`` processes; ``receiver.app:app_from_env`` is the whole process, worker included.
``intake_without_writes`` is a diagnostic, not a configuration: what the request path costs
without the store's write.
"""

from __future__ import annotations

from starlette.applications import Starlette

from receiver.app import create_app, freeze_startup_heap
from receiver.logs import configure
from receiver.settings import load_settings
from receiver.store.records import NewEvent, Stored


def intake() -> Starlette:
    settings = load_settings()
    configure(settings)
    settings.check_serving()
    app = create_app(settings, workers=False)
    freeze_startup_heap()  # as receiver serve does
    return app


def intake_without_writes() -> Starlette:
    """``intake`` with every check, the validation and the dedup digest, but the event's
    write replaced by an immediate answer: nothing is stored (a diagnostic target)."""
    app = intake()

    async def add_event(event: NewEvent) -> Stored:
        return Stored(event.id, False)

    app.state.services.store.add_event = add_event  # the intake holds this same store
    return app
