"""``VocodeClient``: an async client of the Vocode API: calls (create, get, list, end,
recording), webhooks (create, get, list, update) and agents (get, list, update).

Every failure is one of the :class:`~receiver.errors.VocodeError` tree (mapped in
:mod:`receiver.vocode.outcomes`). The client does not retry: whether a retry is safe is the
caller's decision, and the error says which case it is in.

Example::

    from receiver.vocode import CreateCallRequest, VocodeClient

    async with VocodeClient(api_key) as vocode:
        call = await vocode.create_call(CreateCallRequest(
            from_number="+15555550199", to_number="+15555550123",
            agent="0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b", context={"follow_up_key": key}))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpcore
import httpx
import structlog
from pydantic import BaseModel, SecretStr, ValidationError

from receiver import __version__
from receiver.errors import SettingsError, VocodeError, VocodeOutcomeUnknown
from receiver.settings import Settings
from receiver.tracing import NO_TRACING, Tracing
from receiver.vocode.answers import (
    error_for_response,
    error_for_transport,
    status_class,
    transport_class,
)
from receiver.vocode.models import (
    AgentPage,
    Call,
    CallAgent,
    CallPage,
    CreateCallRequest,
    Webhook,
    WebhookPage,
)

DEFAULT_BASE_URL = "https://api.vocode.dev"
Observer = Callable[[str, str, float], None]
"""Called after each request with (operation, status class, seconds).

The status class is ``"2xx"`` ... ``"5xx"``, or ``"not_sent"`` / ``"unknown"`` when no
answer came; all bounded, so fit for a metric label."""

M = TypeVar("M", bound=BaseModel)


class _Writing:
    """httpcore's trace of one request: did writing it fail on a broken connection?

    ``cut_short`` is then True: part of the request never left, and the API cannot have
    acted on it. Anything else (no trace at all, as with a test transport, a write that
    timed out, or one reported complete) leaves it False: the request may have arrived.
    """

    def __init__(self) -> None:
        self.cut_short = False

    async def __call__(self, name: str, info: dict[str, Any]) -> None:
        if name.endswith((".send_request_headers.failed", ".send_request_body.failed")):
            self.cut_short = isinstance(info.get("exception"), httpcore.WriteError)


class VocodeClient:
    """Async client of the Vocode calls API, authenticated with a bearer API key.

    ``timeout`` (seconds, or an :class:`httpx.Timeout`) bounds connecting, writing, reading
    and waiting for a pooled connection. ``transport`` replaces the network (tests);
    ``observe`` is told (operation, status class, seconds) after every request.
    The API key lives only in the request headers: it is in no log line, repr or error.
    """

    def __init__(
        self,
        api_key: str | SecretStr,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        observe: Observer | None = None,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        if not key:
            raise ValueError("api_key is empty")
        self.base_url = base_url.rstrip("/")
        self._observe = observe
        self._tracing = tracing
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={
                "authorization": f"Bearer {key}",
                "accept": "application/json",
                "user-agent": f"vocode-receiver/{__version__}",
            },
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> VocodeClient:
        """A client configured by ``RECEIVER_VOCODE_*``; refuses when no API key is set."""
        if settings.vocode_api_key is None:
            raise SettingsError(
                "RECEIVER_VOCODE_API_KEY: not set; it is needed to place calls through Vocode"
            )
        kwargs.setdefault("base_url", settings.vocode_base_url)
        kwargs.setdefault("timeout", settings.vocode_timeout_seconds)
        return cls(settings.vocode_api_key, **kwargs)

    def __repr__(self) -> str:
        return f"VocodeClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> VocodeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the API ------------------------------------------------------------------------

    async def create_call(self, request: CreateCallRequest | Mapping[str, Any]) -> Call:
        """``POST /v1/calls/create``: dial. An answer 200 that cannot be read counts as
        :class:`~receiver.errors.VocodeOutcomeUnknown`: the call was probably created."""
        if not isinstance(request, CreateCallRequest):
            request = CreateCallRequest.model_validate(request)
        response = await self._request("create_call", "POST", "/v1/calls/create", request.body())
        return self._read("create_call", response, Call, created=True)

    async def get_call(self, call_id: str) -> Call:
        """``GET /v1/calls?id=``: one call."""
        response = await self._request("get_call", "GET", "/v1/calls", params={"id": call_id})
        return self._read("get_call", response, Call)

    async def list_calls(
        self,
        page: int = 1,
        size: int = 50,
        *,
        sort_column: str | None = None,
        sort_desc: bool | None = None,
    ) -> CallPage:
        """``GET /v1/calls/list``: one page of calls; ``page`` counts from 1."""
        params: dict[str, Any] = {"page": page, "size": size}
        if sort_column is not None:
            params["sort_column"] = sort_column
        if sort_desc is not None:
            params["sort_desc"] = "true" if sort_desc else "false"
        response = await self._request("list_calls", "GET", "/v1/calls/list", params=params)
        return self._read("list_calls", response, CallPage)

    async def end_call(self, call_id: str) -> Call:
        """``POST /v1/calls/end?id=``: hang up a call in progress."""
        response = await self._request("end_call", "POST", "/v1/calls/end", params={"id": call_id})
        return self._read("end_call", response, Call)

    async def get_recording(self, call_id: str) -> bytes:
        """``GET /v1/calls/recording?id=``: the call's recording (audio bytes)."""
        response = await self._request(
            "get_recording", "GET", "/v1/calls/recording", params={"id": call_id}
        )
        return response.content

    # -- webhooks and agents ------------------------------------------------------------

    async def create_webhook(
        self, *, url: str, subscriptions: list[str], method: str | None = None
    ) -> Webhook:
        """``POST /v1/webhooks/create``."""
        body = _given(url=url, subscriptions=subscriptions, method=method)
        response = await self._request("create_webhook", "POST", "/v1/webhooks/create", body)
        return self._read("create_webhook", response, Webhook)

    async def get_webhook(self, webhook_id: str) -> Webhook:
        """``GET /v1/webhooks?id=``."""
        params = {"id": webhook_id}
        response = await self._request("get_webhook", "GET", "/v1/webhooks", params=params)
        return self._read("get_webhook", response, Webhook)

    async def list_webhooks(self, page: int = 1, size: int = 50) -> WebhookPage:
        """``GET /v1/webhooks/list``: one page, newest first."""
        params = {"page": page, "size": size}
        response = await self._request("list_webhooks", "GET", "/v1/webhooks/list", params=params)
        return self._read("list_webhooks", response, WebhookPage)

    async def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        subscriptions: list[str] | None = None,
        method: str | None = None,
    ) -> Webhook:
        """``POST /v1/webhooks/update?id=``: the fields given change, the others stay."""
        body = _given(url=url, subscriptions=subscriptions, method=method)
        response = await self._request(
            "update_webhook", "POST", "/v1/webhooks/update", body, params={"id": webhook_id}
        )
        return self._read("update_webhook", response, Webhook)

    async def get_agent(self, agent_id: str) -> CallAgent:
        """``GET /v1/agents?id=``: the whole agent, its webhook included."""
        response = await self._request("get_agent", "GET", "/v1/agents", params={"id": agent_id})
        return self._read("get_agent", response, CallAgent)

    async def list_agents(self, page: int = 1, size: int = 50) -> AgentPage:
        """``GET /v1/agents/list``: one page of agents (their webhook as an id)."""
        params = {"page": page, "size": size}
        response = await self._request("list_agents", "GET", "/v1/agents/list", params=params)
        return self._read("list_agents", response, AgentPage)

    async def update_agent(self, agent_id: str, **fields: Any) -> CallAgent:
        """``POST /v1/agents/update?id=`` with ``fields`` as given: ``webhook="<id>"``
        attaches a webhook, ``webhook=None`` detaches it."""
        response = await self._request(
            "update_agent", "POST", "/v1/agents/update", fields, params={"id": agent_id}
        )
        return self._read("update_agent", response, CallAgent)

    async def find_call_by_context(
        self, key: str, value: str, *, max_pages: int = 10, size: int = 50
    ) -> Call | None:
        """The newest call whose ``context[key] == value``, paging newest first.

        ``None`` means every page was searched and no call matches. When ``max_pages``
        pages were searched and more remain, the answer is not known:
        :class:`~receiver.errors.VocodeOutcomeUnknown` is raised rather than ``None``.
        """
        for page_number in range(1, max_pages + 1):
            page = await self.list_calls(page_number, size, sort_desc=True)
            for call in page.items:
                if call.context is not None and call.context.get(key) == value:
                    return call
            if not page.has_more or not page.items:
                return None
        raise VocodeOutcomeUnknown(
            f"no call with that context in the newest {max_pages} pages; older ones not searched",
            operation="find_call_by_context",
        )

    # -- plumbing -----------------------------------------------------------------------

    async def _request(
        self,
        operation: str,
        method: str,
        path: str,
        json: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        if not self._tracing.enabled:
            return await self._untraced(operation, method, path, json, params=params)
        # the path, without the query (ids) or the body (numbers); the key is a header
        attributes = {
            "http.request.method": method,
            "url.full": self.base_url + path,
            "receiver.operation": operation,
        }
        with self._tracing.span(f"{method} {path}", kind="client", attributes=attributes) as span:
            try:
                response = await self._untraced(operation, method, path, json, params=params)
            except VocodeError as exc:
                span.set({"http.response.status_code": exc.status})
                span.failed(type(exc).__name__)
                raise
            span.set({"http.response.status_code": response.status_code})
            return response

    async def _untraced(
        self,
        operation: str,
        method: str,
        path: str,
        json: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        started = time.perf_counter()
        writing = _Writing()
        try:
            response = await self._http.request(
                method, path, json=json, params=params, extensions={"trace": writing}
            )
        except httpx.RequestError as exc:
            error = error_for_transport(operation, exc, cut_short=writing.cut_short)
            self._done(operation, transport_class(error), started)
            raise error from exc
        self._done(operation, status_class(response.status_code), started)
        if not response.is_success:
            raise error_for_response(operation, response)
        return response

    def _read(
        self, operation: str, response: httpx.Response, model: type[M], *, created: bool = False
    ) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError:
            message = f"Vocode answered {operation} with {response.status_code} but the body "
            message += f"is not a {model.__name__}"
            kind = VocodeOutcomeUnknown if created else VocodeError
            raise kind(message, operation=operation, status=response.status_code) from None

    def _done(self, operation: str, outcome: str, started: float) -> None:
        seconds = time.perf_counter() - started
        log = structlog.get_logger("receiver.vocode")  # per call, so capture_logs sees it
        log.debug("vocode_request", operation=operation, outcome=outcome, seconds=seconds)
        if self._observe is None:
            return
        try:
            self._observe(operation, outcome, seconds)
        except Exception:  # a metric must never turn a created call into an error
            log.exception("vocode_observer_failed", operation=operation)


def _given(**fields: Any) -> dict[str, Any]:
    """The fields that were given (not None): a request sends nothing else."""
    return {name: value for name, value in fields.items() if value is not None}
