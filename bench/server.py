"""Start an app under uvicorn (uvloop, httptools, one process) as a real subprocess, and stop it;
plain, or held to the HTTP bounds as ``receiver serve`` runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``python -m uvicorn TARGET`` on 127.0.0.1, optionally pinned to one CPU."""

    def __init__(
        self, target: str, *, factory: bool, env: dict[str, str], log: Path, cpu: str | None,
        bounded: bool = False,
    ) -> None:  # fmt: skip
        self.port = free_port()
        if bounded:  # as `receiver serve` serves it: receiver.serving's configuration
            cmd = [sys.executable, "-m", "bench.serve_bounded", target, str(self.port)]
        else:
            cmd = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1"]
            cmd += ["--port", str(self.port), "--loop", "uvloop", "--http", "httptools"]
            cmd += ["--no-access-log", "--log-level", "warning"]
            if factory:
                cmd.append("--factory")
        if cpu is not None:
            cmd = ["taskset", "-c", cpu, *cmd]
        self._log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            cmd, env={**os.environ, **env}, stdout=self._out, stderr=subprocess.STDOUT
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise click.ClickException(f"the server exited; see {self._log}")
            try:
                httpx.get(self.base_url + "/healthz", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise click.ClickException(
            f"the server did not answer within {timeout:g}s; see {self._log}"
        )

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux; None elsewhere)."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGINT (uvicorn's graceful shutdown, which closes the store), then wait."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
        return self.process.returncode
