"""buildah on the test machines: install it, make a Debian base once, build and run images.

No Docker engine runs where this project is tested; buildah (vfs storage, chroot isolation) builds
and runs the repository's Dockerfile as root. Whatever cannot work fails the test with the command
and the end of its output: the container tests never skip.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

BUILDAH = ("buildah", "--storage-driver", "vfs")
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv")  # what the Dockerfile's two stages need on Debian
_RECIPE = f"{SUITE} minbase {','.join(BASE_PACKAGES)} trim-v1"
BASE_IMAGE = (
    f"localhost/receiver-test-base:{SUITE}-{hashlib.sha256(_RECIPE.encode()).hexdigest()[:8]}"
)
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
LOCK = Path("/var/tmp/receiver-container-base.lock")
IMAGE_PREFIX = "localhost/vocode-receiver:test-"  # + the pid of the test run
CONTAINER_PREFIX = "receiver-test-"  # + pid-random


def run(*cmd: str, timeout: float, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure or timeout fail the test with the end of its output."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"timed out after {timeout:.0f}s: {' '.join(cmd)}\n{tail(exc.stderr)}")
    except OSError as exc:
        pytest.fail(f"cannot run {cmd[0]}: {exc}")
    if check and done.returncode != 0:
        pytest.fail(
            f"exit {done.returncode}: {' '.join(cmd)}\n"
            f"stdout:\n{tail(done.stdout)}\nstderr:\n{tail(done.stderr)}"
        )
    return done


def tail(text: str | bytes | None, lines: int = 40) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").splitlines()[-lines:])


def ensure_tools() -> None:
    """Install buildah and debootstrap from Debian's packages when they are missing."""
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(
            f"the container tests need {' and '.join(missing)}: run them as root on a Debian "
            "machine, where they apt-get install what is missing, or install it first"
        )
    run("apt-get", "update", "-q", timeout=600)
    run("apt-get", "install", "-y", "-q", *missing, timeout=600)


def debian_mirror() -> str:
    """The Debian mirror this machine's apt already uses."""
    for path in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        text = path.read_text() if path.exists() else ""
        for uri in re.findall(r"^(?:URIs:|deb(?:\s+\[[^]]*\])?)\s+(\S+)", text, re.MULTILINE):
            if "security" not in uri:
                return uri
    return "http://deb.debian.org/debian"


def image_names() -> set[str]:
    done = run(*BUILDAH, "images", "--noheading", "--format", "{{.Name}}:{{.Tag}}", timeout=60)
    return set(done.stdout.split())


def build(context: Path, tag: str, *build_args: str, timeout: float) -> None:
    """``buildah bud`` in Docker format (OCI drops HEALTHCHECK), without a layer cache."""
    ca = ["-v", f"{HOST_CA}:/host-ca.crt:ro", "--build-arg", "PIP_CERT=/host-ca.crt"]
    run(
        *BUILDAH, "bud", "--isolation", "chroot", "--format", "docker", "--layers=false",
        *(ca if HOST_CA.exists() else []), *build_args, "-t", tag, str(context),
        timeout=timeout,
    )  # fmt: skip


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    """Serialise installs and base builds between test sessions running at the same time."""
    with LOCK.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure_base_image() -> float | None:
    """Build :data:`BASE_IMAGE` unless it exists; the seconds it took, None if reused."""
    if BASE_IMAGE in image_names():
        return None
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="receiver-base-", dir="/var/tmp") as tmp:
        rootfs, context = Path(tmp, "rootfs"), Path(tmp, "context")
        run(
            "debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
            SUITE, str(rootfs), debian_mirror(), timeout=900,
        )  # fmt: skip
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                     "usr/share/man", "usr/share/locale"):  # fmt: skip
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        context.mkdir()
        run("tar", "-C", str(rootfs), "-cf", str(context / "rootfs.tar"), ".", timeout=300)
        (context / "Containerfile").write_text('FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n')
        build(context, BASE_IMAGE, timeout=600)
    return time.monotonic() - started


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers() -> None:
    """Remove containers and images of test runs that died before cleaning up (killed pytest)."""
    names = run(*BUILDAH, "containers", "--noheading", "--format", "{{.ContainerName}}", timeout=60)
    for name in names.stdout.split():
        match = re.fullmatch(rf"{CONTAINER_PREFIX}(\d+)-\w+", name)
        if match and not _alive(int(match.group(1))):
            run(*BUILDAH, "rm", name, timeout=120, check=False)
    for name in image_names():
        match = re.fullmatch(rf"{re.escape(IMAGE_PREFIX)}(\d+)", name)
        if match and not _alive(int(match.group(1))):
            run(*BUILDAH, "rmi", name, timeout=120, check=False)


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so no server outlives it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_local_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Image:
    """A built image: its tag and its Docker config (User, Env, Cmd, Healthcheck, ...)."""

    tag: str
    config: dict[str, Any]

    def env(self, name: str) -> str | None:
        values = dict(item.split("=", 1) for item in self.config.get("Env") or [])
        return values.get(name)

    def healthcheck(self) -> list[str]:
        """The HEALTHCHECK test as an argv."""
        test = (self.config.get("Healthcheck") or {}).get("Test") or []
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"no HEALTHCHECK in the image: {test!r}"
        return list(test[1:]) if test[0] == "CMD" else ["sh", "-c", test[1]]


@dataclass
class Container:
    """A working container of an image; commands run in it as the image's user.

    Every command of one container sees the same volumes: buildah keeps a copy of each of the
    image's VOLUME directories per container (it also lets them shadow a ``-v`` bind mount on
    the same path, so the tests use the image's own volume, as ``docker run IMAGE`` would).
    """

    name: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def argv(self, *cmd: str, env: dict[str, str] | None = None) -> list[str]:
        env_args = [arg for key, value in (env or {}).items() for arg in ("-e", f"{key}={value}")]
        return [*BUILDAH, "run", "--isolation", "chroot", *env_args, self.name, "--", *cmd]

    def run(
        self, *cmd: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(*self.argv(*cmd, env=env), timeout=120, check=check)

    def start(self, *cmd: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(
                self.argv(*cmd, env=env), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it reaches inside
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def start_healthy(self, *cmd: str, env: dict[str, str], port: int, log: Path) -> str:
        """Start ``cmd``; its URL once ``/healthz`` on ``port`` answers 200 (60 s at most)."""
        process = self.start(*cmd, env=env, log=log)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(
                    f"{' '.join(cmd)} exited {process.returncode}:\n{tail(log.read_bytes())}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return url
            time.sleep(0.2)
        pytest.fail(f"{' '.join(cmd)}: no /healthz within 60 s:\n{tail(log.read_bytes())}")

    def stop_all(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)


@dataclass(frozen=True)
class Served:
    """The image's own command serving on 127.0.0.1."""

    url: str
    token: str
    env: dict[str, str]
