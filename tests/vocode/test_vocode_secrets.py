"""The Vocode API key never leaks: not into log lines, reprs, error messages or settings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from receiver.errors import VocodeError
from receiver.settings import Settings
from receiver.vocode import CreateCallRequest, VocodeClient
from receiver.vocode.fake import FakeVocode, Fault


@pytest.fixture
def debug_logs() -> Iterator[None]:
    """Let debug lines through whatever an earlier test configured; restore afterwards."""
    previous = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    yield
    structlog.configure(**previous)


def _text_of(error: BaseException) -> str:
    parts = []
    while error is not None:
        parts += [str(error), repr(error), repr(vars(error))]
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


async def test_key_is_in_no_log_line_repr_or_error(
    fake: FakeVocode,
    api_key: str,
    free_port: int,
    make_request: Callable[..., CreateCallRequest],
    debug_logs: None,
) -> None:
    """Through success, 401, 422, 429, 5xx, resets and refused connections, the key stays hidden."""
    faults = [Fault.answer(422), Fault.answer(429, retry_after="1"), Fault.answer(500)]
    texts: list[str] = []
    with capture_logs() as logs:
        async with fake.client() as client:
            texts.append(repr(client))
            await client.create_call(make_request())
            fake.inject(*faults, Fault.reset_before_commit())
            for _ in range(4):
                with pytest.raises(VocodeError) as caught:
                    await client.create_call(make_request())
                texts.append(_text_of(caught.value))
        for base_url in (f"http://127.0.0.1:{free_port}", fake.url):
            key = api_key if base_url != fake.url else "vk_live_wrong_key_for_401_0000"
            async with VocodeClient(key, base_url=base_url) as other:
                with pytest.raises(VocodeError) as caught:
                    await other.list_calls()
                texts.append(_text_of(caught.value))
    assert len(logs) >= 7, "capture_logs saw no lines: the check would prove nothing"
    texts.append(repr(logs))
    everything = "\n".join(texts)
    assert api_key not in everything
    assert "vk_live_wrong_key_for_401" not in everything


def test_settings_hide_the_key(settings_factory: Callable[..., Settings], api_key: str) -> None:
    """RECEIVER_VOCODE_API_KEY is a secret: the settings' repr and dump do not show it."""
    settings = settings_factory(vocode_api_key=api_key)
    assert api_key not in repr(settings)
    assert api_key not in str(settings.model_dump())
    assert settings.vocode_api_key is not None
    assert settings.vocode_api_key.get_secret_value() == api_key
