"""deploy/compose.yaml with ``--profile postgres``: workers and Prometheus beside PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from receiver.settings import Settings, load_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]


def _default(value: str) -> str:
    """``${VAR:-default}`` → ``default`` (the value when nothing is exported)."""
    return value.split(":-", 1)[1].rstrip("}") if value.startswith("${") else value


def test_workers_run_on_the_bundled_postgres(services: dict[str, Any], monkeypatch) -> None:
    """The worker service runs `receiver worker` on PostgreSQL, only with the profile."""
    worker = services["worker"]
    assert worker["command"] == ["receiver", "worker"]
    assert worker["profiles"] == ["postgres"]
    assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert worker["build"] == services["receiver"]["build"]
    for key, value in worker["environment"].items():
        assert key.removeprefix("RECEIVER_").lower() in Settings.model_fields, key
        monkeypatch.setenv(key, _default(str(value)))
    settings = load_settings()
    assert str(settings.database_url).startswith("postgresql://receiver:receiver@postgres:5432/")
    assert settings.host == "0.0.0.0"


def test_prometheus_scrapes_every_receiver_and_worker(services: dict[str, Any]) -> None:
    """Prometheus finds each scaled receiver and worker by DNS, on the ports they serve."""
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["postgres"]
    mounted = {v.split(":")[0] for v in prometheus["volumes"] if v.startswith("./")}
    assert {(DEPLOY / m).is_file() for m in mounted} == {True}
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    targets = {
        job["job_name"]: (job["dns_sd_configs"][0]["names"], job["dns_sd_configs"][0]["port"])
        for job in config["scrape_configs"]
    }
    worker_port = int(services["worker"]["environment"]["RECEIVER_WORKER_METRICS_PORT"])
    receiver_port = int(services["receiver"]["environment"]["RECEIVER_PORT"])
    assert targets == {
        "receiver": (["receiver"], receiver_port),
        "worker": (["worker"], worker_port),
    }


def test_promtool_accepts_the_prometheus_config(promtool: str) -> None:
    """`promtool check config` accepts prometheus.yml and the rules it loads."""
    done = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
