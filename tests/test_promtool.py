"""What ships for monitoring: alert rules and a live /metrics pass promtool; the dashboard and
the rules name only metrics that exist.

promtool comes from Debian's ``prometheus`` package (the ``promtool`` fixture in conftest.py
installs it when it is missing, and fails, not skips, when that is impossible).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from receiver.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "receiver.json"
SAMPLES = resources.files("receiver") / "samples"
EVENT_SAMPLES = sorted(p.name for p in SAMPLES.iterdir() if p.name.startswith("event_"))
TOKEN = "live-test-token-0123456789abcdef"
METRICS_TOKEN = "live-metrics-token-0123456789"
RECEIVER = [sys.executable, "-m", "receiver"]
CLEAN_EXIT = (0, -signal.SIGTERM)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output as text."""
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120)


def metric_names(text: str) -> set[str]:
    """Every sample name in an exposition."""
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def full_exposition() -> str:
    """A scrape of Metrics with every kind of series present (a handler registered)."""
    metrics = Metrics(CollectorRegistry())
    metrics.register_handlers(["log.record"])
    return metrics.render().decode()


def referenced_metrics(expr: str) -> set[str]:
    """Metric names a PromQL expression uses (receiver_*, process_*, python_*)."""
    return set(re.findall(r"\b((?:receiver|process|python)_[a-z_]+)\b", expr))


# -- alert rules --------------------------------------------------------------------------------


def test_alert_rules_pass_promtool_check(promtool: str) -> None:
    """`promtool check rules` accepts deploy/prometheus/alerts.yml."""
    result = run(promtool, "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alert_rules_fire_as_their_unit_tests_say(promtool: str) -> None:
    """`promtool test rules` passes: each alert fires on its scenario and not before."""
    result = run(promtool, "test", "rules", str(ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_cover_what_the_issue_asks() -> None:
    """Alerts exist for a target down or absent per job, silence, dead deliveries and held
    follow-ups (current gauges, not increase() windows), intake p99, lost leases, old pending
    work, refusals and Vocode 5xx."""
    listed = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    rules = {rule["alert"]: rule for rule in listed}
    assert {
        "ReceiverTargetDown",
        "ReceiverJobAbsent",
        "ReceiverWorkerJobAbsent",
        "ReceiverNoEventsReceived",
        "ReceiverIntakeSlow",
        "ReceiverDeadDeliveries",
        "ReceiverFollowUpsHeld",
        "ReceiverLeaseLost",
        "ReceiverOldestPendingTooOld",
        "ReceiverFollowUpRefusalsSpiking",
        "ReceiverVocodeApi5xx",
        "ReceiverWebhookInternalErrors",
        "ReceiverConnectionLimitReached",
        "ReceiverFollowUpUnresolved",
    } <= set(rules)
    assert 'up{job=~"receiver|worker"} == 0' in rules["ReceiverTargetDown"]["expr"]
    assert 'absent(up{job="receiver"})' in rules["ReceiverJobAbsent"]["expr"]
    assert 'absent(up{job="worker"})' in rules["ReceiverWorkerJobAbsent"]["expr"]
    for name in ("ReceiverDeadDeliveries", "ReceiverFollowUpsHeld"):
        assert "increase(" not in rules[name]["expr"] and "rate(" not in rules[name]["expr"]
    assert "histogram_quantile(0.99" in rules["ReceiverIntakeSlow"]["expr"]
    for rule in rules.values():
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    found = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_every_alert_links_its_own_runbook_section() -> None:
    """Each alert's runbook_url points at a section of docs/operations.md named after it,
    which says what it means and what to run."""
    operations = (ROOT / "docs" / "operations.md").read_text()
    anchors = _anchors(operations)
    for rule in yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]:
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/operations.md" and anchor == rule["alert"].lower(), url
        assert anchor in anchors, f"no section {rule['alert']} in docs/operations.md"
        section = operations.split(f"### {rule['alert']}\n", 1)[1].split("\n#", 1)[0]
        assert "receiver " in section or "`" in section, f"{rule['alert']}: nothing to run"


def test_every_alert_has_a_unit_test_that_fires_and_resolves() -> None:
    """alerts_test.yml has, for every alert, an evaluation where it fires and a later one in
    the same scenario where it is quiet again (or, for the older ones, quiet before)."""
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    for rule in yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]:
        name = rule["alert"]
        covered = False
        for test in tests:
            evals = sorted(
                (t["eval_time"], bool(t["exp_alerts"]))
                for t in test["alert_rule_test"]
                if t["alertname"] == name
            )
            fired = [i for i, (_, firing) in enumerate(evals) if firing]
            quiet = [i for i, (_, firing) in enumerate(evals) if not firing]
            if fired and quiet:
                covered = True
        assert covered, f"{name}: no unit test sees it both firing and quiet"


def test_alert_rules_name_only_real_metrics() -> None:
    """Every metric an alert uses is in the exposition."""
    exposed = metric_names(full_exposition())
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    for rule in rules:
        assert referenced_metrics(rule["expr"]) <= exposed, rule["alert"]


# -- dashboard ----------------------------------------------------------------------------------


def test_dashboard_queries_name_only_real_metrics() -> None:
    """The Grafana dashboard parses, its panel ids are unique, and it queries real metrics."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    used = set().union(*(referenced_metrics(e) for e in exprs))
    assert used <= metric_names(full_exposition())
    for family in (
        "receiver_webhook_requests_total",
        "receiver_webhook_events_total",
        "receiver_intake_duration_seconds_bucket",
        "receiver_deliveries_total",
        "receiver_handler_duration_seconds_bucket",
        "receiver_deliveries_pending",
        "receiver_oldest_pending_age_seconds",
        "receiver_deliveries_dead",
        "receiver_follow_ups_total",
        "receiver_vocode_api_duration_seconds_bucket",
        "receiver_build_info",
        "receiver_follow_ups_pending",
        "receiver_follow_ups_held",
        "receiver_lease_losses_total",
    ):
        assert family in used, family
    titles = {p["title"] for p in panels}
    assert {"Targets up", "Follow-up backlog", "Held follow-ups"} <= titles
    assert any('up{job=~"receiver|worker"}' in e for e in exprs)


# -- a live /metrics ----------------------------------------------------------------------------


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    env.update(
        RECEIVER_TOKENS=TOKEN,
        RECEIVER_METRICS_TOKEN=METRICS_TOKEN,
        RECEIVER_DATABASE_URL=f"sqlite:///{tmp_path / 'receiver.db'}",
        RECEIVER_PORT=str(port),
        RECEIVER_WORKER_METRICS_PORT=str(port),
        RECEIVER_METRICS_REFRESH_SECONDS="0.2",
        RECEIVER_POLL_INTERVAL_SECONDS="0.1",
    )
    return env


@pytest.fixture
def start_process(tmp_path: Path) -> Iterator:
    """``start(command, port) -> (process, base_url, stderr_path)``; stopped with SIGTERM after."""
    started: list[subprocess.Popen] = []

    def start(command: str, port: int) -> tuple[subprocess.Popen, str, Path]:
        stderr = tmp_path / f"{command}.stderr"
        proc = subprocess.Popen(
            [*RECEIVER, command],
            env=_env(tmp_path, port),
            stdout=subprocess.DEVNULL,
            stderr=stderr.open("w"),
        )
        started.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # a bound on start-up, not a measurement
            if proc.poll() is not None:
                raise AssertionError(f"{command} exited {proc.returncode}: {stderr.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return proc, base, stderr
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{command} did not start: {stderr.read_text()}")
            time.sleep(0.05)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) in CLEAN_EXIT


def scrape(base: str) -> str:
    response = httpx.get(
        f"{base}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def sample_value(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


@pytest.mark.process
def test_live_scrape_of_receiver_serve(promtool: str, start_process, free_port: int) -> None:
    """A running `receiver serve` exposes metrics that parse, move, and pass promtool."""
    proc, base, stderr = start_process("serve", free_port)
    assert httpx.get(f"{base}/metrics", timeout=5).status_code == 401
    for name in EVENT_SAMPLES:
        body = (SAMPLES / name).read_bytes()
        response = httpx.post(
            f"{base}/webhooks/vocode/{TOKEN}",
            content=body,
            headers={"content-type": "application/json"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
    deadline = time.monotonic() + 30
    while True:  # deliveries run in the background: wait for them, bounded
        text = scrape(base)
        done = sample_value(text, "receiver_deliveries_total", outcome="done")
        pending = sample_value(text, "receiver_deliveries_pending")
        if done >= len(EVENT_SAMPLES) and pending == 0:
            break
        assert time.monotonic() < deadline, f"deliveries not done: {done}, pending {pending}"
        time.sleep(0.1)

    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert sample_value(text, "receiver_webhook_requests_total", outcome="accepted") == len(
        EVENT_SAMPLES
    )
    kinds = Counter(json.loads((SAMPLES / name).read_bytes())["type"] for name in EVENT_SAMPLES)
    for kind, sent in kinds.items():
        assert sample_value(text, "receiver_webhook_events_total", type=kind) == sent
    assert families["receiver_intake_duration_seconds"].type == "histogram"
    assert families["receiver_handler_duration_seconds"].type == "histogram"
    assert families["process_cpu_seconds"].type == "counter"
    assert "receiver_build_info" in metric_names(text)

    result = run(promtool, "check", "metrics", stdin=text)
    assert result.returncode == 0, result.stdout + result.stderr

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) in CLEAN_EXIT
    output = stderr.read_text()
    for line in output.splitlines():
        json.loads(line)  # every line, uvicorn's included, is JSON off a terminal
    assert '"webhook_request"' in output and '"delivery_finished"' in output
    assert TOKEN not in output and METRICS_TOKEN not in output
    assert "5555550123" not in output and "Yes, this is Dana" not in output


@pytest.mark.process
def test_live_scrape_of_receiver_worker(promtool: str, start_process, free_port: int) -> None:
    """`receiver worker` serves its own /metrics on its own port; it passes promtool."""
    _, base, _ = start_process("worker", free_port)
    text = scrape(base)
    assert sample_value(text, "receiver_webhook_events_total") == 0
    assert "receiver_deliveries_pending" in metric_names(text)
    result = run(promtool, "check", "metrics", stdin=text)
    assert result.returncode == 0, result.stdout + result.stderr
