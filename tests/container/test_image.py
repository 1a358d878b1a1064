"""The container image: built from the Dockerfile, run as its non-root user, storing on /data."""

from __future__ import annotations

import json
from importlib import resources

import httpx
import pytest

from .buildah import Container, Image, Served, free_local_port

pytestmark = pytest.mark.container


def test_image_user_is_not_root(receiver_image: Image, image_container: Container) -> None:
    """The image runs as a configured non-root user, never as root."""
    user = receiver_image.config.get("User") or ""
    assert user.split(":")[0] not in ("", "0", "root"), f"image user is {user!r}"
    assert image_container.run("id", "-u").stdout.strip() != "0"


def test_image_defaults_serve_all_interfaces_and_store_on_the_volume(
    receiver_image: Image,
) -> None:
    """By default the image serves on 0.0.0.0:8000 and keeps SQLite in the /data volume."""
    config = receiver_image.config
    assert config["Cmd"] == ["receiver", "serve"]
    assert receiver_image.env("RECEIVER_HOST") == "0.0.0.0"
    assert receiver_image.env("RECEIVER_PORT") == "8000"
    assert "8000/tcp" in (config.get("ExposedPorts") or {})
    assert "/data" in (config.get("Volumes") or {})
    assert receiver_image.env("RECEIVER_DATABASE_URL") == "sqlite:////data/receiver.db"


def test_event_posted_to_the_container_is_listed_by_the_cli(
    served_image: Served, image_container: Container
) -> None:
    """An event the containerised server accepts is stored in /data and listed by the CLI."""
    body = (resources.files("receiver") / "samples" / "event_message.json").read_bytes()
    response = httpx.post(
        f"{served_image.url}/webhooks/vocode/{served_image.token}",
        content=body,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    event_id = response.json()["id"]

    listed = image_container.run("receiver", "events", "list", "--json").stdout
    rows = [json.loads(line) for line in listed.splitlines() if line.strip()]
    assert [(r["id"], r["type"]) for r in rows if r["id"] == event_id] == [
        (event_id, "event_message")
    ]
    owner = image_container.run("stat", "-c", "%u", "/data/receiver.db").stdout.strip()
    assert owner == image_container.run("id", "-u").stdout.strip() != "0"


def test_healthcheck_passes_while_serving(
    receiver_image: Image, served_image: Served, image_container: Container
) -> None:
    """The image's HEALTHCHECK command succeeds against the running server."""
    done = image_container.run(*receiver_image.healthcheck(), env=served_image.env, check=False)
    assert done.returncode == 0, done.stderr


def test_healthcheck_passes_for_a_worker_container(
    receiver_image: Image, worker_in_image: Served, image_container: Container
) -> None:
    """The same HEALTHCHECK succeeds in a container running `receiver worker` instead."""
    done = image_container.run(*receiver_image.healthcheck(), env=worker_in_image.env, check=False)
    assert done.returncode == 0, done.stderr


def test_healthcheck_fails_when_nothing_listens(
    receiver_image: Image, image_container: Container
) -> None:
    """The image's HEALTHCHECK command fails when neither server nor worker answers."""
    env = {"RECEIVER_PORT": str(free_local_port())}
    env["RECEIVER_WORKER_METRICS_PORT"] = str(free_local_port())
    done = image_container.run(*receiver_image.healthcheck(), env=env, check=False)
    assert done.returncode != 0
