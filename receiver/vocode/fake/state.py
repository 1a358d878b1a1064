"""What the fake Vocode API remembers: calls, agents and webhooks, every create request, and
the faults scripted for the next create requests. Shared by the server's thread and the
test's thread, so every access holds one lock. Answers leave here in the SDK's shapes
(:mod:`.shapes`).
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

from receiver.vocode.fake import shapes
from receiver.vocode.fake.faults import Fault
from receiver.vocode.fake.requests import (
    AGENT_SCALARS,
    AgentParams,
    AgentUpdate,
    CreateCallBody,
    WebhookParams,
    WebhookUpdate,
)


class NotFound(LookupError):
    """No such call, agent, webhook or recording (404); the message names what."""


class Unprocessable(ValueError):
    """A request the fake understands but cannot do (422); the message says why."""


def _unset(value: Any) -> bool:
    """Absent, null, or the SDK's ``Undefined`` (``{}``): leave the field as it is."""
    return value is None or value == {}


class FakeState:
    """The fake's memory. ``api_key`` None accepts any bearer token. It starts with one
    agent, :data:`~receiver.vocode.fake.shapes.SEED_AGENT_ID`."""

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._in_flight = 0  # create requests being handled (a slow one may commit late)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls: dict[str, dict[str, Any]] = {}  # every dict: in creation order
            self._agents: dict[str, dict[str, Any]] = {}
            self._webhooks: dict[str, dict[str, Any]] = {}
            self._created: list[CreateCallBody] = []
            self._lookups: Counter[str] = Counter()  # GET /v1/calls?id= per call id
            self._faults.clear()
            self._agents[shapes.SEED_AGENT_ID] = shapes.new_agent(None, shapes.SEED_AGENT_ID)

    # faults -----------------------------------------------------------------------------------

    def add_faults(self, faults: list[Fault], times: int = 1) -> None:
        with self._lock:
            for _ in range(times):
                self._faults.extend(faults)

    def next_fault(self, operation: str = "create_call") -> Fault | None:
        """The first fault scripted for ``operation``, taken off the script."""
        with self._lock:
            for fault in self._faults:
                if fault.operation == operation:
                    self._faults.remove(fault)
                    return fault
            return None

    def pending_faults(self) -> list[Fault]:
        """Every fault still scripted, of every operation, in order."""
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @contextlib.contextmanager
    def creating(self) -> Iterator[None]:
        """Count a create request as in flight while the block runs."""
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def creates_in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    # calls ------------------------------------------------------------------------------------

    def commit(self, body: CreateCallBody) -> dict[str, Any]:
        """Create the call ``body`` asks for (and its inline agent): its ``Call``."""
        with self._lock:
            agent_id = self._agent_for(body.agent)
            call = shapes.new_call(body, agent_id, time.time())
            self._created.append(body)
            self._calls[call["id"]] = call
            return self._call_json(call)

    def _agent_for(self, agent: str | AgentParams) -> str:
        if isinstance(agent, str):  # an id: one the fake has not seen is made up on the spot
            self._agents.setdefault(agent, shapes.new_agent(None, agent))
            return agent
        webhook = agent.webhook
        record = shapes.new_agent(agent)
        if isinstance(webhook, str):
            self._webhook(webhook)
            record["webhook_id"] = webhook
        elif webhook is not None:
            record["webhook_id"] = self._add_webhook(webhook)["id"]
        self._agents[record["id"]] = record
        return str(record["id"])

    def _call_json(self, call: dict[str, Any]) -> dict[str, Any]:
        agent = self._agents[call["agent_id"]]
        webhook = self._webhooks.get(agent["webhook_id"] or "")
        return copy.deepcopy(shapes.call_json(call, shapes.agent_json(agent, webhook)))

    def created(self) -> list[CreateCallBody]:
        with self._lock:
            return list(self._created)

    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._call_json(call) for call in self._calls.values()]

    def call(self, call_id: str) -> dict[str, Any]:
        with self._lock:
            return self._call_json(self._call(call_id))

    def looked_up(self, call_id: str) -> None:
        """Count a ``GET /v1/calls?id=`` (whatever it answers)."""
        with self._lock:
            self._lookups[call_id] += 1

    def lookups(self) -> dict[str, int]:
        with self._lock:
            return dict(self._lookups)

    def played(self, call_id: str, to_number: str, from_number: str) -> None:
        """Know a call played without being created here (as Vocode knows every call)."""
        with self._lock:
            if call_id not in self._calls:
                body = CreateCallBody(
                    from_number=from_number, to_number=to_number, agent=shapes.SEED_AGENT_ID
                )
                call = shapes.new_call(body, shapes.SEED_AGENT_ID, time.time())
                self._calls[call_id] = {**call, "id": call_id}

    def _call(self, call_id: str) -> dict[str, Any]:
        if call_id not in self._calls:
            raise NotFound("Call not found")
        return self._calls[call_id]

    def call_record(self, call_id: str) -> dict[str, Any] | None:
        """The stored record of a call (numbers, times as epoch seconds), or None."""
        with self._lock:
            found = self._calls.get(call_id)
            return copy.deepcopy(found) if found is not None else None

    def calls_page(self, page: int, size: int, newest_first: bool = True) -> dict[str, Any]:
        with self._lock:
            items = [shapes.normalized_call_json(c) for c in self._calls.values()]
        return shapes.page(items[::-1] if newest_first else items, page, size)

    def update_call(self, call_id: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            call = self._call(call_id)
            call.update(fields)
            return self._call_json(call)

    def end(self, call_id: str) -> dict[str, Any]:
        """Hang up: ended now; the recording is there unless the call was HIPAA compliant."""
        with self._lock:
            call = self._call(call_id)
            now = time.time()
            call.update(status="ended", end_time=now, start_time=call["start_time"] or now)
            call["recording_available"] = not call["hipaa_compliant"]
            return self._call_json(call)

    def recording_available(self, call_id: str) -> bool:
        with self._lock:
            return bool(self._call(call_id)["recording_available"])

    # webhooks ---------------------------------------------------------------------------------

    def create_webhook(self, params: WebhookParams) -> dict[str, Any]:
        with self._lock:
            return shapes.webhook_json(self._add_webhook(params))

    def _add_webhook(self, params: WebhookParams) -> dict[str, Any]:
        webhook_id = shapes.new_id()
        webhook: dict[str, Any] = {
            "id": webhook_id,
            "user_id": shapes.USER_ID,
            "subscriptions": list(params.subscriptions),
            "url": params.url,
            "method": params.method or "POST",
        }
        self._webhooks[webhook_id] = webhook
        return webhook

    def _webhook(self, webhook_id: str) -> dict[str, Any]:
        if webhook_id not in self._webhooks:
            raise NotFound("Webhook not found")
        return self._webhooks[webhook_id]

    def webhook(self, webhook_id: str) -> dict[str, Any]:
        with self._lock:
            return shapes.webhook_json(self._webhook(webhook_id))

    def webhooks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [shapes.webhook_json(w) for w in self._webhooks.values()]

    def webhooks_page(self, page: int, size: int, newest_first: bool = True) -> dict[str, Any]:
        items = self.webhooks()
        return shapes.page(items[::-1] if newest_first else items, page, size)

    def update_webhook(self, webhook_id: str, update: WebhookUpdate) -> dict[str, Any]:
        with self._lock:
            webhook = self._webhook(webhook_id)
            _apply(webhook, update)
            return shapes.webhook_json(webhook)

    # agents -----------------------------------------------------------------------------------

    def add_agent(self, params: AgentParams | None = None) -> str:
        """A new agent (from ``params``, or a plain one); its id."""
        with self._lock:
            if params is None:
                record = shapes.new_agent(None)
                self._agents[record["id"]] = record
                return str(record["id"])
            return self._agent_for(params)

    def agent(self, agent_id: str) -> dict[str, Any]:
        with self._lock:
            return self._agent_json(self._agent(agent_id))

    def _agent(self, agent_id: str) -> dict[str, Any]:
        if agent_id not in self._agents:
            raise NotFound("Agent not found")
        return self._agents[agent_id]

    def _agent_json(self, agent: dict[str, Any]) -> dict[str, Any]:
        webhook = self._webhooks.get(agent["webhook_id"] or "")
        return copy.deepcopy(shapes.agent_json(agent, webhook))

    def agents_page(self, page: int, size: int, newest_first: bool = True) -> dict[str, Any]:
        with self._lock:
            items = [shapes.normalized_agent_json(a) for a in self._agents.values()]
        return shapes.page(items[::-1] if newest_first else items, page, size)

    def update_agent(self, agent_id: str, update: AgentUpdate) -> dict[str, Any]:
        """Apply ``update``: its webhook (attach an id, detach with null, or change the
        agent's webhook) and its plain values."""
        with self._lock:
            agent = self._agent(agent_id)
            if "webhook" in update.model_fields_set:
                agent["webhook_id"] = self._webhook_change(agent, update.webhook)
            extra = update.model_extra or {}
            for name in AGENT_SCALARS:
                if name in extra and not isinstance(extra[name], dict):
                    agent[name] = extra[name]
            return self._agent_json(agent)

    def _webhook_change(self, agent: dict[str, Any], change: str | WebhookUpdate | None) -> Any:
        if change is None:
            return None
        if isinstance(change, str):
            return self._webhook(change)["id"]
        if all(_unset(getattr(change, name)) for name in ("subscriptions", "url", "method")):
            return agent["webhook_id"]  # Undefined: as it is
        if agent["webhook_id"] in self._webhooks:
            _apply(self._webhooks[agent["webhook_id"]], change)
            return agent["webhook_id"]
        if _unset(change.url) or _unset(change.subscriptions):
            raise Unprocessable("the agent has no webhook: give url and subscriptions")
        created = WebhookParams(
            url=change.url, subscriptions=change.subscriptions, method=change.method
        )
        return self._add_webhook(created)["id"]


def _apply(webhook: dict[str, Any], update: WebhookUpdate) -> None:
    for name in ("subscriptions", "url", "method"):
        value = getattr(update, name)
        if not _unset(value):
            webhook[name] = list(value) if name == "subscriptions" else value
