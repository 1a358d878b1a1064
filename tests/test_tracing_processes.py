"""One trace across processes, on PostgreSQL: a real `receiver serve` and `receiver worker`,
each exporting its spans with the real OTLP/HTTP exporter, configured only by the standard
OTEL_* variables, to a collector this test runs on loopback.

Why a collector rather than an in-memory exporter: the SDK's in-memory exporter lives in one
process, and these spans are made in two. A collector speaking OTLP lets each process run
exactly as in production (the `otel` extra's exporter, chosen by OTEL_EXPORTER_OTLP_ENDPOINT,
flushed at shutdown) with nothing test-only inside it, and decodes what arrives with the
protocol's own protobuf classes. The in-process tests (tests/store/test_contract_tracing.py)
use the in-memory exporter.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from receiver.testing import sample
from receiver.vocode.fake import FakeVocode

pytestmark = [pytest.mark.process, pytest.mark.postgres]
TESTS = Path(__file__).resolve().parent
TOKEN = "trace-test-token-0123456789abcdef"


class Collector:
    """An OTLP/HTTP trace receiver on loopback: keeps every request body and its spans."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.spans: list[dict] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                collector.receive(body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.bodies.append(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(_span(span, resource["service.name"]))

    def named(self, name: str) -> list[dict]:
        return [s for s in self.spans if s["name"] == name]


def _span(span, service: str) -> dict:
    attributes = {}
    for a in span.attributes:
        value = a.value
        attributes[a.key] = getattr(value, value.WhichOneof("value"))
    return {
        "name": span.name,
        "service": service,
        "trace": span.trace_id.hex(),
        "id": span.span_id.hex(),
        "parent": span.parent_span_id.hex(),
        "attributes": attributes,
    }


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(command: str, env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "receiver", command, "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:  # a bound on start-up, not a measurement
        assert proc.poll() is None, f"{command} exited: {log.read_text()[-2000:]}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{command} did not start: {log.read_text()[-2000:]}"
        time.sleep(0.1)


def test_one_trace_across_a_serve_and_a_worker_process(pg_url: str, tmp_path: Path) -> None:
    """The event posted to `receiver serve` is one trace: the intake span (serve), the handler
    attempts as its children whichever process ran them (serve retries, the worker's run
    succeeds), the follow-up's send as the worker run's child and the create request as the
    send's; no exported byte holds the token."""
    collector = Collector()
    with FakeVocode(api_key="k") as fake:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("RECEIVER_", "OTEL_"))}
        base.update(
            PYTHONPATH=f"{TESTS}{os.pathsep}{base.get('PYTHONPATH', '')}",
            RECEIVER_DATABASE_URL=pg_url,
            RECEIVER_TOKENS=TOKEN,
            RECEIVER_HANDLERS="fixture_trace_handlers:router",
            RECEIVER_VOCODE_API_KEY="k",
            RECEIVER_VOCODE_BASE_URL=fake.url,
            RECEIVER_POLL_INTERVAL_SECONDS="0.1",
            RECEIVER_DEFAULT_REGION="US",  # the handler writes a national number
            RECEIVER_LOG_FORMAT="json",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        worker = _start(
            "worker", {**base, "OTEL_SERVICE_NAME": "receiver-worker"}, _port(),
            tmp_path / "worker.log",
        )  # fmt: skip
        serve_port = _port()
        serve_env = {**base, "OTEL_SERVICE_NAME": "receiver-serve", "TRACE_FIXTURE_ROLE": "serve"}
        serve = _start("serve", serve_env, serve_port, tmp_path / "serve.log")
        try:
            answer = httpx.post(
                f"http://127.0.0.1:{serve_port}/webhooks/vocode/{TOKEN}",
                json=sample("event_phone_call_did_not_connect"), timeout=10,
            )  # fmt: skip
            assert answer.status_code == 202, answer.text
            deadline = time.monotonic() + 60
            while not fake.created:  # a bound, not a measurement
                assert time.monotonic() < deadline, "no call was created: " + "\n".join(
                    (tmp_path / f"{name}.log").read_text()[-1500:] for name in ("serve", "worker")
                )
                time.sleep(0.1)
        finally:
            for proc in (serve, worker):
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(60) for proc in (serve, worker)]
    assert codes == [0, 0], (tmp_path / "serve.log").read_text()[-2000:]

    event_id = answer.json()["id"]
    [intake] = [
        s for s in collector.named("POST /webhooks/vocode/{token}")
        if s["attributes"].get("receiver.event_id") == event_id
    ]  # fmt: skip
    assert intake["service"] == "receiver-serve"
    runs = collector.named("handler trace.call_back")
    assert runs and all(r["parent"] == intake["id"] for r in runs)
    assert all(r["trace"] == intake["trace"] for r in runs)
    [done] = [r for r in runs if r["attributes"]["receiver.outcome"] == "done"]
    assert done["service"] == "receiver-worker"
    assert {r["attributes"]["receiver.outcome"] for r in runs if r is not done} <= {"retry"}
    [send] = [s for s in collector.named("follow_up send") if s["parent"] == done["id"]]
    assert send["attributes"]["receiver.outcome"] == "created"
    [create] = [s for s in collector.named("POST /v1/calls/create") if s["parent"] == send["id"]]
    assert create["trace"] == intake["trace"]
    assert all(TOKEN.encode() not in body for body in collector.bodies)
