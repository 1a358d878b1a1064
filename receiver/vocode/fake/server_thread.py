"""Serve an ASGI app with uvicorn on a free 127.0.0.1 port, in a background thread.

Used by the fake Vocode API and by tests that need a real HTTP server.

Example::

    with ServerThread(app) as server:
        httpx.get(server.url + "/healthz")
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Literal

import uvicorn


class ServerThread:
    """A uvicorn server on its own thread; ``url`` is known once the port is bound.

    The socket is bound before the thread starts, so the port is taken from the moment
    the object exists; :meth:`start` returns once uvicorn is accepting connections.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lifespan: Literal["auto", "on", "off"] = "auto",
        startup_timeout: float = 20.0,
    ) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        config = uvicorn.Config(
            app,
            lifespan=lifespan,
            loop="asyncio",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._startup_timeout = startup_timeout
        self.exit_code: int | None = None

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except SystemExit as exc:  # uvicorn exits when the app's startup fails
            self.exit_code = exc.code if isinstance(exc.code, int) else 1

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server on {self.url} did not start (see its log)")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
