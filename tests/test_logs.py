"""Logs: one JSON line per record, every library through one pipeline, nothing private in them."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import warnings
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
import structlog
from pydantic import ValidationError

from receiver import Router
from receiver.delivery.registry import Registry
from receiver.events import PhoneCallConnectedPayload
from receiver.logs import configure
from receiver.redact import Redactor, mask_phone
from receiver.settings import Settings

SAMPLES = resources.files("receiver") / "samples"
ALL_SAMPLES = sorted(p.name for p in SAMPLES.iterdir() if p.name.endswith(".json"))
RAW = {name: (SAMPLES / name).read_text() for name in ALL_SAMPLES}
PHONE_NUMBERS = sorted(set(re.findall(r"\+\d{10,15}", "".join(RAW.values()))))
API_KEY = "vocode-api-key-5f1e2d3c4b5a69788796"
METRICS_TOKEN = "metrics-token-a1b2c3d4e5f6"


class Tty(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def configured(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., io.StringIO]]:
    """``configure_logs(stream=None, **settings) -> stream``; the logging set-up is undone after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "asyncio")}

    def make(stream: io.StringIO | None = None, **overrides: Any) -> io.StringIO:
        stream = stream if stream is not None else io.StringIO()
        settings = settings_factory(
            metrics_token=METRICS_TOKEN, vocode_api_key=API_KEY, **overrides
        )
        configure(settings, stream=stream)
        structlog.configure(cache_logger_on_first_use=False)  # no test sees another's set-up
        return stream

    yield make
    structlog.reset_defaults()
    root.handlers[:], root.level = saved
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(False)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line written, each parsed as JSON (fails on a line that is not)."""
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def log_everything_about(name: str, raw: str) -> None:
    """Log a payload every way a handler or library might: fields, text, bytes, tracebacks."""
    log = structlog.get_logger("receiver.test")
    data = json.loads(raw)
    log.info("event_received", envelope=data, payload=data.get("payload"), raw=raw.encode())
    log.info("event_text", body=raw, summary=repr(data))
    logging.getLogger("some.library").warning("library saw %s", raw)
    try:
        raise RuntimeError(f"could not handle {name}: {raw}")
    except RuntimeError:
        log.exception("handler_failed")
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    for number in PHONE_NUMBERS:
        try:
            raise ValueError(f"cannot dial {number} (digits {number[1:]})")
        except ValueError as exc:
            log.error("dial_failed", exc_info=exc, error=str(exc))


def leaked_runs(output: str, number: str) -> list[str]:
    """Digit runs of 5 or more in ``output`` that are part of ``number``'s digits."""
    digits = number.lstrip("+")
    return [run for run in re.findall(r"\d{5,}", output) if run in digits]


# -- format and pipeline ------------------------------------------------------------------------


def test_json_lines_when_not_a_terminal(configured) -> None:
    """Off a TTY every line is one JSON object with timestamp, level, logger and event."""
    stream = configured()
    structlog.get_logger("receiver.test").info("something_happened", count=3)
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    [ours, uvicorn] = lines(stream)
    assert ours["event"] == "something_happened" and ours["count"] == 3
    assert ours["level"] == "info" and ours["logger"] == "receiver.test"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", ours["timestamp"])
    assert uvicorn["event"] == "Started server process [42]"
    assert uvicorn["logger"] == "uvicorn.error" and uvicorn["level"] == "info"


def test_console_on_a_terminal(configured) -> None:
    """On a TTY lines are rendered for people, and still redacted."""
    stream = configured(Tty())
    structlog.get_logger("receiver.test").info("dialling", to="+15555550123")
    output = stream.getvalue()
    assert "dialling" in output and not output.lstrip().startswith("{")
    assert "5555550123" not in output and "0123" in output


def test_stderr_is_the_default_stream(settings_factory, capsys, configured) -> None:
    """Without a stream, lines go to standard error."""
    configured()  # for the clean-up
    configure(settings_factory())
    structlog.get_logger("receiver.test").warning("to_stderr")
    assert json.loads(capsys.readouterr().err.splitlines()[-1])["event"] == "to_stderr"


def test_warnings_go_through_the_pipeline(configured) -> None:
    """Python warnings become JSON lines like everything else."""
    stream = configured()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
    [line] = lines(stream)
    assert line["logger"] == "py.warnings" and "deprecated thing" in line["event"]


def test_log_level_setting(configured) -> None:
    """RECEIVER_LOG_LEVEL drops lower levels, ours and the libraries'."""
    stream = configured(log_level="WARNING")
    log = structlog.get_logger("receiver.test.level")
    log.info("dropped")
    logging.getLogger("some.library").info("dropped too")
    log.warning("kept")
    logging.getLogger("some.library").error("kept too")
    assert [line["event"] for line in lines(stream)] == ["kept", "kept too"]


def test_context_is_bound_with_contextvars(configured) -> None:
    """Context bound once appears on every line inside the block, libraries' lines included."""
    stream = configured()
    with structlog.contextvars.bound_contextvars(
        event_id="evt_1", call_id="3f2b9c1e-6a4d-4f7e-9b2a-1c5d8e7f0a12", handler="crm.save"
    ):
        structlog.get_logger("receiver.test").info("inside")
        logging.getLogger("httpx").warning("library inside")
    structlog.get_logger("receiver.test").info("outside")
    inside, library, outside = lines(stream)
    for line in (inside, library):
        assert line["event_id"] == "evt_1" and line["handler"] == "crm.save"
        assert line["call_id"] == "3f2b9c1e-6a4d-4f7e-9b2a-1c5d8e7f0a12"
    assert "event_id" not in outside


# -- redaction ----------------------------------------------------------------------------------


def test_the_samples_hold_phone_numbers() -> None:
    """The redaction tests below have numbers to look for."""
    assert len(PHONE_NUMBERS) >= 3


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_no_phone_number_of_any_sample_reaches_the_logs(configured, name: str) -> None:
    """Every sample logged every way: no 5-digit piece of any number appears, only last 4."""
    stream = configured()
    log_everything_about(name, RAW[name])
    output = stream.getvalue()
    lines(stream)
    for number in PHONE_NUMBERS:
        assert leaked_runs(output, number) == [], number
        assert number[-4:] in output  # masked, not removed: the last 4 digits stay
    assert "Traceback" in output


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_call_content_never_reaches_the_logs(configured, name: str) -> None:
    """Message text, transcripts and recording URLs of every sample are left out."""
    stream = configured()
    log_everything_about(name, RAW[name])
    output = stream.getvalue()
    for secret_text in (
        "Yes, this is Dana",
        "HUMAN: Yes, that works",
        "confirm your cleaning",
        "recordings.example.com",
    ):
        assert secret_text not in output


def test_an_exception_with_a_number_in_its_message(configured) -> None:
    """A traceback whose message holds a number is masked in the rendered exception."""
    stream = configured()
    try:
        raise ConnectionError("Vocode refused 15555550123 and +15555550199 (call 3f2b9c1e)")
    except ConnectionError:
        structlog.get_logger("receiver.test").exception("follow_up_failed")
    [line] = lines(stream)
    assert "*******0123" in line["exception"] and "+*******0199" in line["exception"]
    assert "5555550" not in stream.getvalue()


def test_a_validation_error_echoing_a_number(configured) -> None:
    """pydantic's error text (which echoes the input) is masked too."""
    stream = configured()
    try:
        PhoneCallConnectedPayload.model_validate({"to_phone_number": 15555550123})
    except ValidationError:
        structlog.get_logger("receiver.test").exception("invalid_payload")
    assert "5555550123" not in stream.getvalue()
    assert "0123" in stream.getvalue()


def test_pii_setting_keeps_content_but_never_secrets(configured, token) -> None:
    """RECEIVER_LOG_PII=true shows numbers and text; tokens and keys stay redacted."""
    stream = configured(log_pii=True)
    log_everything_about("event_message.json", RAW["event_message.json"])
    log_everything_about("event_phone_call_connected.json", RAW["event_phone_call_connected.json"])
    log = structlog.get_logger("receiver.test")
    log.info("request", path=f"/webhooks/vocode/{token}", headers={"authorization": token})
    output = stream.getvalue()
    assert "+15555550123" in output and "Yes, this is Dana" in output
    assert token not in output


def test_secrets_never_reach_the_logs(configured, token) -> None:
    """Webhook tokens, the metrics token and the Vocode API key are redacted wherever they are."""
    stream = configured()
    log = structlog.get_logger("receiver.test")
    log.info("request", path=f"/webhooks/vocode/{token}", query=f"type=x&token={token}")
    log.info("headers", headers={"Authorization": f"Bearer {API_KEY}", "x-api-key": API_KEY})
    log.info("scrape", authorization=f"Bearer {METRICS_TOKEN}", api_key=API_KEY)
    log.info(f"config token={token} api_key: {API_KEY}")
    logging.getLogger("uvicorn.access").info('"POST /webhooks/vocode/%s HTTP/1.1" 202', token)
    logging.getLogger("httpx").warning("Authorization: Bearer %s", API_KEY)
    log.info("a wrong token", path="/webhooks/vocode/not-the-token-at-all-123")
    try:
        raise PermissionError(f"key {API_KEY} refused for {token}")
    except PermissionError:
        log.exception("vocode_auth_failed")
    output = stream.getvalue()
    for secret in (token, METRICS_TOKEN, API_KEY, "not-the-token-at-all-123"):
        assert secret not in output, secret
    assert output.count("[redacted]") >= 10
    lines(stream)


def test_redactor_keeps_what_is_not_private() -> None:
    """Call ids, event ids, timestamps, small numbers and ordinary text pass unchanged."""
    redact = Redactor()
    for text in (
        "3f2b9c1e-6a4d-4f7e-9b2a-123456789012",
        "evt_0627a1b2c3d4e1234567890",
        "2026-11-26T10:30:00.123456Z",
        "attempt 3 of 5, retry in 12.5 s",
        "sha256 s:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "context=dental reminder",
    ):
        assert redact.text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+15555550123", "+*******0123"),
        ("15555550123", "*******0123"),
        ("call 5555550123 now", "call ******0123 now"),
        ("(555) 555-0123", "(***) ***-0123"),
        ("+1 555-555-0123", "+* ***-***-0123"),
        ("tel:+447700900123", "tel:+********0123"),
        ("id_15555550123", "id_*******0123"),
    ],
)
def test_phone_numbers_are_masked_to_their_last_4(text: str, expected: str) -> None:
    """E.164, grouped national numbers and 10-15 digit runs keep only their last 4 digits."""
    assert Redactor().text(text) == expected


def test_mask_phone_keeps_separators() -> None:
    """Masking replaces digits only."""
    assert mask_phone("+1 (555) 555-0123") == "+* (***) ***-0123"


def test_redaction_walks_nested_values() -> None:
    """Keys are redacted at any depth, in lists, tuples and pydantic models alike."""
    redact = Redactor()
    payload = PhoneCallConnectedPayload(to_phone_number="+15555550123")
    out = redact(
        None,
        "info",
        {
            "event": "x",
            "data": {"messages": [{"text": "hello", "n": 15555550123}], "Token": "abc"},
            "model": payload,
            "pair": ("+15555550199", b'{"text": "hi there"}'),
        },
    )
    assert out["data"] == {
        "messages": [{"text": "[redacted]", "n": "*******0123"}],
        "Token": "[redacted]",
    }
    assert out["model"]["to_phone_number"] == "+*******0123"
    assert out["pair"] == ["+*******0199", '{"text": "[redacted]"}']


# -- canonical lines ----------------------------------------------------------------------------


async def test_one_canonical_line_per_request(configured, client_factory, settings, hook, token):
    """Each webhook request writes exactly one 'webhook_request' line: outcome, type, call."""
    stream = configured()
    client = await client_factory(settings)
    body = RAW["event_phone_call_connected.json"]
    first = await client.post(hook, content=body, headers={"content-type": "application/json"})
    await client.post(hook, content=body, headers={"content-type": "application/json"})
    await client.post("/webhooks/vocode/wrong-token-000000000000", content=body)
    requests = [line for line in lines(stream) if line["event"] == "webhook_request"]
    assert [(r["outcome"], r["status"], r["method"]) for r in requests] == [
        ("accepted", 202, "POST"),
        ("duplicate", 200, "POST"),
        ("unauthorized", 401, "POST"),
    ]
    assert requests[0]["event_id"] == first.json()["id"] == requests[1]["event_id"]
    assert requests[2]["event_id"] is None
    call_id = json.loads(body)["call_id"]
    assert [(r["type"], r["call_id"]) for r in requests] == [
        ("event_phone_call_connected", call_id),
        ("event_phone_call_connected", call_id),
        (None, None),  # refused before the envelope was read
    ]
    assert all(isinstance(r["duration_ms"], float | int) for r in requests)
    output = stream.getvalue()
    assert token not in output and "5555550123" not in output


async def test_one_canonical_line_per_delivery(configured, start_app, settings_factory, hook):
    """Each handler run writes one 'delivery_finished' line with ids, handler, attempt, outcome."""
    stream = configured()
    router = Router("t")
    ran = asyncio.Event()

    @router.on("event_phone_call_connected")
    async def note(event, ctx) -> None:
        ctx.log.info("noted", to=event.payload.to_phone_number)
        ctx.annotate(segment="trial", callee=event.payload.to_phone_number)
        ran.set()

    settings = settings_factory(poll_interval_seconds=0.05)
    app = await start_app(settings, registry=Registry([router]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
        body = RAW["event_phone_call_connected.json"]
        response = await client.post(hook, content=body)
        await asyncio.wait_for(ran.wait(), 10)
        for _ in range(500):  # the line is written just after the handler returns
            if any(line["event"] == "delivery_finished" for line in lines(stream)):
                break
            await asyncio.sleep(0.01)
    [finished] = [line for line in lines(stream) if line["event"] == "delivery_finished"]
    [noted] = [line for line in lines(stream) if line["event"] == "noted"]
    for line in (finished, noted):
        assert line["event_id"] == response.json()["id"]
        assert line["call_id"] == "3f2b9c1e-6a4d-4f7e-9b2a-1c5d8e7f0a12"
        assert line["handler"] == "t.note" and line["attempt"] == 1
        assert line["type"] == "event_phone_call_connected"
    assert finished["outcome"] == "done" and "duration_ms" in finished
    assert noted["to"] == "+*******0123"
    # the handler's notes ride on the delivery's line, redacted like any field
    assert finished["segment"] == "trial" and finished["callee"] == "+*******0123"


@pytest.mark.parametrize("buffering", [0, -1], ids=["raw", "buffered"])
def test_json_lines_to_a_binary_stream_are_orjson_bytes(configured, tmp_path, buffering) -> None:
    """On a stream with bytes underneath (stderr's is unbuffered), our lines and the libraries'
    lines arrive whole and in order, UTF-8, each redacted."""
    path = tmp_path / "log"
    raw = open(path, "wb", buffering=buffering)  # noqa: SIM115
    stream = io.TextIOWrapper(raw, write_through=True) if buffering == 0 else open(path, "w")  # noqa: SIM115
    configured(stream, log_level="INFO", log_format="json")
    structlog.get_logger("receiver.test").info("ours", text_chars=3, name="caf\u00e9")
    logging.getLogger("library").warning("theirs %s", API_KEY)
    structlog.get_logger("receiver.test").info("ours_again", token=API_KEY)
    stream.flush()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["event"] for line in lines] == ["ours", "theirs [redacted]", "ours_again"]
    assert lines[0]["name"] == "caf\u00e9" and lines[2]["token"] == "[redacted]"
    assert "\u00e9" in path.read_text(encoding="utf-8")  # UTF-8, not a \\u escape
