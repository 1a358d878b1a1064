"""The misbehaviours a test can script for the fake's next create (or get) requests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FaultKind = Literal[
    "status", "delay", "commit_then_timeout", "commit_then_drop", "reset_before_commit"
]
Operation = Literal["create_call", "get_call"]


class Fault(BaseModel):
    """One scripted misbehaviour of a create request (``operation="get_call"``: of a
    ``GET /v1/calls?id=``), consumed in order, one per request of its operation.

    - ``status``: answer ``status`` (with ``Retry-After: retry_after``, and ``body`` or a
      default body) without creating anything.
    - ``delay``: wait ``latency`` seconds, then create and answer normally.
    - ``commit_then_timeout``: create the call, then answer nothing until the client gives
      up (at most ``hang_seconds``): the client sees a read timeout.
    - ``commit_then_drop``: create the call, then reset the connection.
    - ``reset_before_commit``: read the request, then reset the connection; nothing created.

    ``latency`` is waited first for every kind. A get has nothing to commit: the
    ``commit_then_*`` kinds answer it as they would after committing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FaultKind = "status"
    status: int = Field(500, ge=400, le=599)
    retry_after: str | None = None
    body: Any = None
    latency: float = Field(0.0, ge=0)
    hang_seconds: float = Field(60.0, gt=0)
    operation: Operation = "create_call"

    @classmethod
    def answer(
        cls,
        status: int,
        *,
        retry_after: str | float | None = None,
        body: Any = None,
        operation: Operation = "create_call",
    ) -> Fault:
        """Answer ``status`` instead of creating, e.g. ``Fault.answer(429, retry_after=2)``
        (or of reading the call: ``operation="get_call"``)."""
        header = None if retry_after is None else str(retry_after)
        return cls(
            kind="status", status=status, retry_after=header, body=body, operation=operation
        )

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
