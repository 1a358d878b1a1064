"""One uvicorn process on a port that others share: ``python -m bench.pg_serve APP PORT``.

Each process binds its own socket with SO_REUSEPORT, so the kernel spreads connections
evenly over the processes, as a load balancer in front of N receivers would. (``uvicorn
--workers`` shares one socket, and whichever process accepts first takes most connections;
``--fd`` treats the socket as a Unix one, without TCP_NODELAY.)
"""

from __future__ import annotations

import contextlib
import socket
import sys

import uvicorn


def main() -> None:
    target, port, factory = sys.argv[1], int(sys.argv[2]), "--factory" in sys.argv[3:]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        target, factory=factory, loop="uvloop", http="httptools", access_log=False,
        log_level="warning",
    )  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):  # re-raised after a graceful shutdown
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
