"""The container image, built with buildah from the repository's Dockerfile and run as its user.

The image is built on a Debian bookworm base made here with debootstrap once and reused while
``buildah images`` lists it. Image size and build time are printed at the end of the run and
written to ``.bench/container.json``.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from .buildah import (
    BASE_IMAGE,
    BUILDAH,
    CONTAINER_PREFIX,
    IMAGE_PREFIX,
    Container,
    Image,
    Served,
    build,
    ensure_base_image,
    ensure_tools,
    free_local_port,
    machine_lock,
    remove_leftovers,
    run,
)

REPO = Path(__file__).resolve().parents[2]
REPORT = REPO / ".bench" / "container.json"
STATS: dict[str, Any] = {}  # what this run measured


def _write_report() -> None:
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(STATS, indent=2) + "\n")


def _layer_sizes(tag: str) -> list[int]:
    info = json.loads(run(*BUILDAH, "inspect", "--type", "image", tag, timeout=60).stdout)
    return [layer["size"] for layer in json.loads(info["Manifest"])["layers"]]


@pytest.fixture(scope="module")
def receiver_image() -> Iterator[Image]:
    """The repository's Dockerfile built on the local Debian base (the base built once)."""
    started = time.monotonic()
    with machine_lock():
        ensure_tools()
        remove_leftovers()
        base_seconds = ensure_base_image()
    tag = f"{IMAGE_PREFIX}{os.getpid()}"
    build_started = time.monotonic()
    build(REPO, tag, "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", timeout=900)
    build_seconds = time.monotonic() - build_started
    info = json.loads(run(*BUILDAH, "inspect", "--type", "image", tag, timeout=60).stdout)
    layers, base_layers = _layer_sizes(tag), _layer_sizes(BASE_IMAGE)
    STATS.update(
        when=datetime.now(UTC).isoformat(timespec="seconds"),
        base_image=BASE_IMAGE,
        base_build_seconds=None if base_seconds is None else round(base_seconds, 1),
        image_build_seconds=round(build_seconds, 1),
        image_mb=round(sum(layers) / 1e6, 1),
        added_by_dockerfile_mb=round(sum(layers[len(base_layers) :]) / 1e6, 1),
    )
    _write_report()
    try:
        yield Image(tag, info["Docker"]["config"])
    finally:
        run(*BUILDAH, "rmi", tag, timeout=120, check=False)
        STATS["container_tests_seconds"] = round(time.monotonic() - started, 1)
        _write_report()


@pytest.fixture(scope="module")
def image_container(receiver_image: Image) -> Iterator[Container]:
    """A working container of the image, removed (with its volume) at the end of the run."""
    name = f"{CONTAINER_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    run(*BUILDAH, "from", "--pull-never", "--name", name, receiver_image.tag, timeout=300)
    container = Container(name)
    try:
        yield container
    finally:
        container.stop_all()
        run(*BUILDAH, "rm", name, timeout=120, check=False)


@pytest.fixture(scope="module")
def served_image(
    receiver_image: Image, image_container: Container, tmp_path_factory: pytest.TempPathFactory
) -> Served:
    """The image's CMD serving with a token on a free 127.0.0.1 port, /healthz answering."""
    token, port = secrets.token_urlsafe(24), free_local_port()
    env = {"RECEIVER_TOKENS": token, "RECEIVER_HOST": "127.0.0.1", "RECEIVER_PORT": str(port)}
    log = tmp_path_factory.mktemp("container-log") / "serve.log"
    url = image_container.start_healthy(*receiver_image.config["Cmd"], env=env, port=port, log=log)
    return Served(url, token, env)


@pytest.fixture(scope="module")
def worker_in_image(image_container: Container, tmp_path_factory: pytest.TempPathFactory) -> Served:
    """`receiver worker` in the image, health on a free port, nothing on RECEIVER_PORT."""
    port = free_local_port()
    env = {
        "RECEIVER_HOST": "127.0.0.1",
        "RECEIVER_PORT": str(free_local_port()),
        "RECEIVER_WORKER_METRICS_PORT": str(port),
    }
    log = tmp_path_factory.mktemp("container-log") / "worker.log"
    url = image_container.start_healthy("receiver", "worker", env=env, port=port, log=log)
    return Served(url, "", env)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not STATS:
        return
    terminalreporter.section("container image")
    for key, value in STATS.items():
        terminalreporter.write_line(f"{key}: {value}")
    terminalreporter.write_line(f"(also in {REPORT.relative_to(REPO)})")
