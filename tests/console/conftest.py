"""Fixtures of the console tests: settings with an operator token, a started app, and
clients signed in by cookie (as a browser) or by Bearer header (as a script)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from console.support import OPERATOR, sign_in
from receiver.metrics import Metrics
from receiver.settings import Settings


@pytest.fixture
def operator() -> str:
    """The console token of :func:`console_settings`."""
    return OPERATOR


@pytest.fixture
def console_settings(settings_factory: Callable[..., Settings]) -> Callable[..., Settings]:
    """``make(**overrides)``: the default settings with the console on."""

    def make(**overrides: Any) -> Settings:
        return settings_factory(**{"console_tokens": OPERATOR, **overrides})

    return make


@pytest.fixture
async def console_app(
    start_app: Callable[..., Awaitable[Starlette]], console_settings: Callable[..., Settings]
) -> Starlette:
    """The service with the console on and no workers (deliveries change only when a test
    says), started."""
    return await start_app(console_settings(), metrics=Metrics(), workers=False)


@pytest.fixture
async def anonymous(
    console_app: Starlette, client_for: Callable[[Starlette], Awaitable[httpx.AsyncClient]]
) -> httpx.AsyncClient:
    """A client of :func:`console_app` that has not signed in."""
    return await client_for(console_app)


@pytest.fixture
async def browser_client(anonymous: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client signed in with a session cookie; its CSRF token is ``client.csrf``."""
    anonymous.csrf = await sign_in(anonymous)  # type: ignore[attr-defined]
    return anonymous


@pytest.fixture
def store_of(console_app: Starlette) -> Any:
    """The store :func:`console_app` serves."""
    return console_app.state.services.store
