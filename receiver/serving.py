"""How ``receiver serve`` and ``receiver worker`` serve an app: one uvicorn configuration.

uvicorn with uvloop and httptools (its fastest pair), held to the HTTP bounds of
:mod:`receiver.bounded_http`: a cap on each request's head (``RECEIVER_MAX_HEADER_BYTES``), a
deadline for each request to arrive whole (``RECEIVER_REQUEST_TIMEOUT_SECONDS``), the idle
keep-alive limit (``RECEIVER_KEEP_ALIVE_SECONDS``) and a cap on open connections
(``RECEIVER_MAX_CONNECTIONS``). uvicorn's own options do not cover them with httptools:
``h11_max_incomplete_event_size`` caps heads only under the slower h11 parser (and answers
400), ``limit_concurrency`` answers 503 per request but keeps accepting connections, and no
option times out a request that arrives slowly.

Example::

    serve(app, settings, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import contextlib
import resource
import signal
import socket
import time
from typing import Any

import structlog
import uvicorn
from starlette.applications import Starlette

from receiver.bounded_http import Bounds, bounded_protocol
from receiver.metrics import Metrics
from receiver.settings import Settings

log = structlog.get_logger("receiver.serving")
FILES_BESIDE_CONNECTIONS = 256  # database files, pool connections, logs, the listening socket
LOG_EVERY_SECONDS = 10.0


class RefusalLog:
    """Counts refusals in a metric and logs them, one line per reason per ten seconds: under an
    attack a line per connection would be an attack on the logs."""

    def __init__(self, metrics: Metrics | None, max_connections: int) -> None:
        self._metrics = metrics
        self._max_connections = max_connections
        self._last: dict[str, float] = {}
        self._since: dict[str, int] = {}

    def __call__(self, reason: str, open_connections: int) -> None:
        if self._metrics is not None:
            self._metrics.http_refused(reason)
        self._since[reason] = self._since.get(reason, 0) + 1
        now = time.monotonic()
        if now - self._last.get(reason, -LOG_EVERY_SECONDS) < LOG_EVERY_SECONDS:
            return
        self._last[reason], count = now, self._since.pop(reason)
        if reason == "too_many_connections":
            log.warning(
                "connection_limit_reached", limit=self._max_connections,
                open_connections=open_connections, refused=count,
                detail="new connections are answered 503 and closed (RECEIVER_MAX_CONNECTIONS)",
            )  # fmt: skip
        else:
            log.warning("http_refused", reason=reason, refused=count)


def server_config(
    app: Starlette, settings: Settings, *, host: str, port: int, metrics: Metrics | None = None
) -> uvicorn.Config:
    """The uvicorn configuration of every serving process."""
    bounds = Bounds(
        max_header_bytes=settings.max_header_bytes,
        request_timeout=settings.request_timeout_seconds,
        max_connections=settings.max_connections,
        refused=RefusalLog(metrics, settings.max_connections),
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=bounded_protocol(bounds),
        timeout_keep_alive=settings.keep_alive_seconds,  # type: ignore[arg-type]  # a float works
        access_log=False,  # the webhook path carries the token; intake logs its own lines
        log_config=None,
        server_header=False,
    )


class _Server(uvicorn.Server):
    """uvicorn waits for open responses before it stops: the console's live tails never end
    by themselves, so they are told to at the signal."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: Any) -> None:
        from receiver.app import stop_streams

        super().handle_exit(sig, frame)
        stop_streams(self._app)


def serve(
    app: Starlette, settings: Settings, *, host: str, port: int, reuse_port: bool = False
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then exit with status 0.

    ``reuse_port``: bind with ``SO_REUSEPORT``, so that several processes serve one port and
    the kernel spreads the connections among them."""
    services = getattr(app.state, "services", None)
    metrics = services.metrics if services is not None else None
    raise_file_limit(settings.max_connections + FILES_BESIDE_CONNECTIONS)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again with the
    # handlers found at start: these make that an exit with status 0 instead of a kill.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    config = server_config(app, settings, host=host, port=port, metrics=metrics)
    server = _Server(config, app)
    sockets = [_reused_port(host, port)] if reuse_port else None
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)
    if not server.started:  # the app's start-up failed, or the port is taken: uvicorn said why
        raise SystemExit(3)


def _reused_port(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        log.error("cannot_bind", host=host, port=port, error=str(exc))
        raise SystemExit(3) from None
    sock.set_inheritable(True)
    return sock


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def raise_file_limit(needed: int) -> None:
    """Raise the soft limit on open files to ``needed`` when the hard limit allows, so that
    the connection cap, not the file limit, is what refuses connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        log.warning(
            "file_limit_below_connection_cap", file_limit=target, needed=needed,
            detail="lower RECEIVER_MAX_CONNECTIONS or raise the hard limit (ulimit -Hn)",
        )  # fmt: skip
