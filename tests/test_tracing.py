"""Tracing is configured by the standard OTEL_* variables only, and costs nothing when off."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import structlog

from receiver.settings import tracing_exporters
from receiver.tracing import NO_TRACING, tracing_from_environment


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ("otlp_proto_http",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ("otlp_proto_http",)),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ("otlp_proto_http", "console")),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
         ("otlp_proto_grpc",)),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ()),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, ()),
    ],
)  # fmt: skip
def test_exporters_come_from_the_standard_variables(environ, exporters) -> None:
    """No exporter configured means no tracing; an OTLP endpoint alone means OTLP/HTTP."""
    assert tracing_exporters(environ) == exporters


def test_off_by_default(monkeypatch) -> None:
    """Without OTEL_* variables the service gets the no-op tracing."""
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    assert tracing_from_environment() is NO_TRACING


def test_without_the_extra_it_warns_and_stays_off(monkeypatch) -> None:
    """An exporter configured but OpenTelemetry not installed: a warning naming the extra."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.delitem(sys.modules, "receiver.tracing_otel", raising=False)
    with structlog.testing.capture_logs() as logs:
        assert tracing_from_environment() is NO_TRACING
    [warning] = [e for e in logs if e["event"] == "tracing_unavailable"]
    assert "vocode-receiver[otel]" in warning["reason"]


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "RECEIVER_"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env={**clean, **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


SERVE_ONE = """
    import asyncio, sys, httpx
    from receiver.app import create_app
    from receiver.settings import load_settings
    from receiver.testing import sample

    async def main():
        app = create_app(load_settings(tokens="t" * 16, database_url=sys.argv[-1]))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
                hook = "/webhooks/vocode/" + "t" * 16
                answer = await client.post(hook, json=sample("event_message"))
                assert answer.status_code == 202
        print(type(app.state.services.tracing).__name__)
        print(sorted({m.split(".")[0] for m in sys.modules if m.startswith("opentelemetry")}))

    asyncio.run(main())
"""


def test_no_opentelemetry_is_imported_when_off(tmp_path) -> None:
    """A service that served a request without OTEL_* variables never imported OpenTelemetry."""
    code = SERVE_ONE.replace("sys.argv[-1]", repr(f"sqlite:///{tmp_path}/a.db"))
    done = _run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["Tracing", "[]"]


def test_an_exporter_named_by_otel_traces_exporter_gets_the_spans(tmp_path) -> None:
    """OTEL_TRACES_EXPORTER=console: the service traces, and its spans (named by the route's
    template, without the token) reach the exporter when the service stops."""
    code = SERVE_ONE.replace("sys.argv[-1]", repr(f"sqlite:///{tmp_path}/a.db"))
    done = _run(code, OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="receiver-test")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["OtelTracing", "['opentelemetry']"]
    assert '"name": "POST /webhooks/vocode/{token}"' in done.stdout
    assert '"service.name": "receiver-test"' in done.stdout
    assert "t" * 16 not in done.stdout
