"""Fixtures of the Vocode API tests: the fake Vocode API and a real receiver, each served
over real HTTP on a free port, and clients of them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from receiver.app import create_app
from receiver.metrics import Metrics
from receiver.settings import Settings
from receiver.vocode import CreateCallRequest, VocodeClient
from receiver.vocode.fake import FakeVocode
from receiver.vocode.fake.samples import load_sample
from receiver.vocode.fake.server_thread import ServerThread

API_KEY = "vk_live_7Hq2Zr9Lx4Pw8Ns1Kd6Vb3Mc5Fj0Ty"  # looks like a real key, so a leak shows


@pytest.fixture
def api_key() -> str:
    """The only key the :func:`fake` accepts."""
    return API_KEY


@pytest.fixture
def fake(api_key: str) -> Iterator[FakeVocode]:
    """A fake Vocode API served on a free port for this test."""
    with FakeVocode(api_key=api_key) as server:
        yield server


@pytest.fixture
async def vocode(fake: FakeVocode) -> AsyncIterator[VocodeClient]:
    """A client of :func:`fake` with the right key and generous timeouts."""
    async with fake.client(timeout=10.0) as client:
        yield client


@pytest.fixture
def make_request() -> Callable[..., CreateCallRequest]:
    """``make(**overrides)``: the sample create request, its context carrying a fresh key."""

    def make(**overrides: Any) -> CreateCallRequest:
        body = load_sample("request_create_call")
        body["context"] = {**body["context"], "follow_up_key": f"fu_{uuid.uuid4().hex}"}
        body.update(overrides)
        return CreateCallRequest.model_validate(body)

    return make


@pytest.fixture
def receiver_url(settings: Settings, token: str, tmp_path: Path) -> Iterator[str]:
    """A real receiver (``create_app`` under uvicorn, this test's SQLite file, the test
    token) on a free port; its webhook URL, token included.

    Its log lines go to ``receiver.log`` in the test's directory: on stdout they would mix
    with the output of commands run by CliRunner in the meantime.
    """
    previous = structlog.get_config()
    with (tmp_path / "receiver.log").open("w") as log_file:
        structlog.configure(
            processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
            logger_factory=structlog.PrintLoggerFactory(log_file),
            wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
            cache_logger_on_first_use=False,
        )
        try:
            app = create_app(settings, metrics=Metrics())
            with ServerThread(app, lifespan="on") as server:
                yield f"{server.url}/webhooks/vocode/{token}"
        finally:
            structlog.configure(**previous)
