"""Real receiver processes for the reliability suite: started, killed, measured.

Each is ``python -m receiver serve`` (or ``worker``) on a free port with the settings given,
logging JSON lines to a file of the run's directory. Its ``PYTHONPATH`` holds the suite's own
handlers and the code under test: this checkout, or another revision (:func:`use_code`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.revisions import checkout
from bench.server import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
TOKEN = "reliability-token-0123456789abcdef"
HANDLERS = "reliability_handlers:router"  # the suite's handler, importable by any revision
_PATH = [str(ROOT)]


def use_code(work: Path, revision: str | None) -> None:
    """Run receivers with the code of ``revision`` (``git archive`` of it) or of this checkout,
    and the suite's handler module beside it."""
    modules = work / "modules"
    modules.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("handlers.py"), modules / "reliability_handlers.py")
    code = ROOT
    if revision is not None:
        code = checkout(revision, work / f"code-{revision.replace('/', '_')}")
    _PATH[:] = [str(modules), str(code)]
STARTUP_SECONDS = 30.0


def base_env(**settings: str) -> dict[str, str]:
    """This environment without any ``RECEIVER_*`` variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*_PATH, env.get("PYTHONPATH")]))
    env.update(
        RECEIVER_TOKENS=TOKEN, RECEIVER_LOG_FORMAT="json", RECEIVER_LOG_LEVEL="WARNING"
    )
    env.update(settings)
    return env


class Receiver:
    """A receiver process; ``start`` again after ``kill`` to restart it on the same port."""

    def __init__(
        self, work: Path, name: str, env: dict[str, str], *, command: str = "serve",
        wrap: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        self.work, self.name, self.env, self.command, self.wrap = work, name, env, command, wrap
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hook(self) -> str:
        return f"/webhooks/vocode/{TOKEN}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Receiver:
        self.starts += 1
        log = (self.work / f"{self.name}.log").open("ab")
        cmd = [sys.executable, "-m", "receiver", self.command, "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*self.wrap, *cmd], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.work
        )
        log.close()
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name} did not answer /healthz within {STARTUP_SECONDS:g} s")

    def kill(self) -> None:
        """SIGKILL: nothing after this point runs in the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> int:
        """SIGTERM, then wait: the store is closed cleanly."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def rss_mib(self) -> float:
        """Resident memory of the process now (Linux), in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def ready(self) -> int:
        """The status of ``/readyz``."""
        return httpx.get(f"{self.url}/readyz", timeout=30).status_code
