"""structlog set-up: JSON lines in production, console on a TTY, one pipeline for all logs.

Our own lines (structlog), the standard library's and every library's (uvicorn, asyncio,
httpx, warnings) go through the same chain::

    contextvars → level → timestamp → logger name → stack/traceback to text → redaction → render

Redaction (:class:`receiver.redact.Redactor`) runs after tracebacks are formatted, so an
exception's message is redacted like any other value. Context is bound with
``structlog.contextvars`` (``bound_contextvars(event_id=..., handler=...)``) and appears on
every line logged inside the block, including the libraries' lines.

The canonical lines: ``webhook_request`` once per webhook request, ``delivery_finished`` once
per handler run (see the README's table of log fields).
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable
from typing import Any, BinaryIO, TextIO

import orjson
import structlog
from pydantic import SecretStr

from receiver.redact import Redactor, is_secret_key
from receiver.settings import Settings

_QUIET = {"httpx": "WARNING", "httpcore": "WARNING", "asyncio": "WARNING"}


def redactor_for(settings: Settings) -> Redactor:
    """The redaction every line gets: secrets from ``settings``, PII per ``RECEIVER_LOG_PII``."""
    secrets: list[str | None] = [*settings.tokens, settings.metrics_token]
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            secrets.append(value.get_secret_value())
        elif isinstance(value, str) and is_secret_key(name):
            secrets.append(value)
    return Redactor(pii=settings.log_pii, secrets=secrets, webhook_path=settings.webhook_path)


def configure(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Configure structlog and route the standard library's logs through it.

    Call once per process, before serving; calling again replaces the configuration.
    ``stream`` defaults to standard error.
    """
    stream = stream if stream is not None else sys.stderr
    json_lines = settings.log_format == "json" or (
        settings.log_format == "auto" and not stream.isatty()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.add_logger_name,
    ]
    head: list[structlog.types.Processor] = [
        structlog.processors.StackInfoRenderer(),
        # tracebacks become text here, for both renderers, so redaction sees them
        structlog.processors.format_exc_info,
        redactor_for(settings),
        _leading_fields,
    ]
    # Our own lines are rendered by structlog and written straight to the stream: the
    # standard library's records, handler and formatter cost more than the line itself on
    # the intake's hot path. JSON lines are rendered by orjson into bytes, written to the
    # stream's buffer (structlog's documented fast path). The libraries' lines take the
    # same chain through logging, rendered to text.
    factory: Callable[..., Any]
    if not json_lines:
        renderer: structlog.types.Processor = structlog.dev.ConsoleRenderer(
            colors=stream.isatty()
        )
        text_renderer, factory = renderer, _named(_NamedWriteLogger, stream)
    elif isinstance(getattr(stream, "buffer", None), io.BufferedIOBase | io.RawIOBase):
        stream.flush()  # text written before goes out first
        renderer, text_renderer = _json_bytes, _json_text
        factory = _named(_NamedBytesLogger, stream.buffer)
    else:  # a text stream without bytes underneath (tests' StringIO)
        renderer = text_renderer = _json_text
        factory = _named(_NamedWriteLogger, stream)
    tail = [*head, renderer]
    structlog.configure(
        processors=[*shared, *tail],
        logger_factory=factory,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(settings.log_level)
        ),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta, *head, text_renderer
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for name, level in _QUIET.items():  # their INFO lines repeat ours; DEBUG shows them
        logging.getLogger(name).setLevel(logging.NOTSET if settings.log_level == "DEBUG" else level)
    logging.captureWarnings(True)


_ORJSON = orjson.OPT_NON_STR_KEYS
_json_bytes = structlog.processors.JSONRenderer(orjson.dumps, option=_ORJSON)


def _json_text(
    logger: structlog.types.WrappedLogger, name: str, event_dict: structlog.types.EventDict
) -> str:
    """The JSON line as text (orjson renders bytes, which are UTF-8)."""
    rendered = _json_bytes(logger, name, event_dict)
    return rendered.decode() if isinstance(rendered, bytes) else rendered


class _NamedBytesLogger(structlog.BytesLogger):
    """A structlog logger writing rendered bytes to a binary stream, with its ``name``."""

    def __init__(self, file: BinaryIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class _NamedWriteLogger(structlog.WriteLogger):
    """A structlog logger writing lines to a stream, with the ``name`` it was asked for."""

    def __init__(self, stream: TextIO, name: str) -> None:
        super().__init__(stream)
        self.name = name


def _named(kind: Callable[[Any, str], Any], target: Any) -> Callable[..., Any]:
    """structlog's logger factory: a ``kind`` logger on ``target`` with the name asked for."""

    def factory(*args: object) -> Any:
        return kind(target, str(args[0]) if args else "receiver")

    return factory


_LEADING = ("timestamp", "level", "logger", "event")


def _leading_fields(
    logger: structlog.types.WrappedLogger, name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Timestamp, level, logger and event first: lines read left to right."""
    first = {key: event_dict[key] for key in _LEADING if key in event_dict}
    return {**first, **event_dict}
