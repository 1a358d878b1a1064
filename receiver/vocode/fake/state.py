"""What the fake Vocode API remembers: the calls it created, every create request, and
the faults scripted for the next create requests. Shared by the server's thread and the
test's thread, so every access holds one lock.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from receiver.vocode.fake.samples import load_sample
from receiver.vocode.models import Call, CreateCallRequest

FaultKind = Literal[
    "status", "delay", "commit_then_timeout", "commit_then_drop", "reset_before_commit"
]


class Fault(BaseModel):
    """One scripted misbehaviour of a create request, consumed in order, one per request.

    - ``status``: answer ``status`` (with ``Retry-After: retry_after``, and ``body`` or a
      default body) without creating anything.
    - ``delay``: wait ``latency`` seconds, then create and answer normally.
    - ``commit_then_timeout``: create the call, then answer nothing until the client gives
      up (at most ``hang_seconds``): the client sees a read timeout.
    - ``commit_then_drop``: create the call, then reset the connection.
    - ``reset_before_commit``: read the request, then reset the connection; nothing created.

    ``latency`` is waited first for every kind.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FaultKind = "status"
    status: int = Field(500, ge=400, le=599)
    retry_after: str | None = None
    body: Any = None
    latency: float = Field(0.0, ge=0)
    hang_seconds: float = Field(60.0, gt=0)

    @classmethod
    def answer(
        cls, status: int, *, retry_after: str | float | None = None, body: Any = None
    ) -> Fault:
        """Answer ``status`` instead of creating, e.g. ``Fault.answer(429, retry_after=2)``."""
        header = None if retry_after is None else str(retry_after)
        return cls(kind="status", status=status, retry_after=header, body=body)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        return cls(kind="delay", latency=seconds)

    @classmethod
    def commit_then_timeout(cls, hang_seconds: float = 60.0) -> Fault:
        return cls(kind="commit_then_timeout", hang_seconds=hang_seconds)

    @classmethod
    def commit_then_drop(cls) -> Fault:
        return cls(kind="commit_then_drop")

    @classmethod
    def reset_before_commit(cls) -> Fault:
        return cls(kind="reset_before_commit")

    def answer_body(self) -> Any:
        if self.body is not None:
            return self.body
        if self.status == 422:
            return {"detail": [{"type": "value_error", "loc": ["body"], "msg": "Rejected"}]}
        return {"detail": {429: "Too Many Requests", 401: "Unauthorized"}.get(self.status, "Error")}


def _now() -> str:
    return datetime.now(UTC).isoformat()


def new_call(request: CreateCallRequest) -> dict[str, Any]:
    """A ``Call`` in the shape of the seed answer, for ``request``, with a new id."""
    call = load_sample("response_create_call")
    agent = call["agent"]
    if isinstance(request.agent, str):
        agent["id"] = request.agent
    else:
        agent.update(request.agent.model_dump(mode="json"))
        agent["id"] = str(uuid.uuid4())
    call.update(
        id=str(uuid.uuid4()),
        status="not_started",
        stage="created",
        to_number=request.to_number,
        from_number=request.from_number,
        context=dict(request.context),
        on_no_human_answer=request.on_no_human_answer,
        hipaa_compliant=request.hipaa_compliant,
        run_do_not_call_detection=request.run_do_not_call_detection,
        telephony_params=request.telephony_params,
        start_time=None,
        end_time=None,
        created_at=_now(),
    )
    return call


class FakeState:
    """The fake's memory. ``api_key`` None accepts any bearer token."""

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self._lock = threading.Lock()
        self._calls: dict[str, dict[str, Any]] = {}  # in creation order
        self._created: list[CreateCallRequest] = []
        self._faults: deque[Fault] = deque()

    # faults
    def add_faults(self, faults: list[Fault], times: int = 1) -> None:
        with self._lock:
            for _ in range(times):
                self._faults.extend(faults)

    def next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # calls
    def commit(self, request: CreateCallRequest) -> dict[str, Any]:
        call = new_call(request)
        with self._lock:
            self._created.append(request)
            self._calls[call["id"]] = call
            return copy.deepcopy(call)

    def created(self) -> list[CreateCallRequest]:
        with self._lock:
            return list(self._created)

    def calls(self) -> list[Call]:
        with self._lock:
            return [Call.model_validate(c) for c in self._calls.values()]

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            call = self._calls.get(call_id)
            return copy.deepcopy(call) if call is not None else None

    def page(self, page: int, size: int, newest_first: bool = True) -> dict[str, Any]:
        with self._lock:
            calls = list(self._calls.values())
        if newest_first:
            calls.reverse()
        start = (page - 1) * size
        items = copy.deepcopy(calls[start : start + size])
        return {
            "items": items,
            "page": page,
            "size": size,
            "has_more": start + size < len(calls),
            "total": len(calls),
            "total_is_estimated": False,
        }

    def update(self, call_id: str, **fields: Any) -> dict[str, Any] | None:
        with self._lock:
            call = self._calls.get(call_id)
            if call is None:
                return None
            call.update(fields)
            return copy.deepcopy(call)

    def end(self, call_id: str) -> dict[str, Any] | None:
        return self.update(call_id, status="ended", end_time=_now())

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._created.clear()
            self._faults.clear()
