"""A fake Vocode API: a real HTTP server on a free local port, for tests and local runs.

It answers what the official SDK (``vocode-api`` 0.0.48) asks, in the SDK's shapes, and
reads requests as Vocode's FastAPI server does: calls (create, get, list newest first, end,
recording), webhooks (create, get, list, update) and agents (get, list, update, as far as
attaching a webhook needs). It checks the bearer key, records every create request and
counts the gets of each call, can misbehave on cue, and can play a call's webhooks to a
receiver (losing the events asked, as Vocode may), the call then reported as it ended.

Example::

    from receiver.vocode.fake import FakeVocode, Fault

    with FakeVocode(api_key="test-key") as fake:
        fake.inject(Fault.answer(429, retry_after=2), Fault.commit_then_timeout())
        async with fake.client(timeout=0.5) as vocode:
            ...                       # first create: 429; second: created, then no answer
        assert len(fake.created) == 1
        fake.play_call(receiver_url, n_messages=4)
        lost = fake.play_call(receiver_url, drop=["event_phone_call_ended"]).dropped

From the command line: ``receiver fake-vocode --port 8010 --api-key test-key``, scripted
over HTTP with ``POST /_fake/faults`` and ``POST /_fake/play``.
"""

from __future__ import annotations

from typing import Any

from receiver.vocode.client import VocodeClient
from receiver.vocode.fake.api import FakeApi
from receiver.vocode.fake.faults import Fault
from receiver.vocode.fake.play import PlayRequest, PlayResult, plan_play, post_events
from receiver.vocode.fake.requests import AgentParams, CreateCallBody
from receiver.vocode.fake.server_thread import ServerThread
from receiver.vocode.fake.shapes import SEED_AGENT_ID
from receiver.vocode.fake.state import FakeState
from receiver.vocode.models import Call

__all__ = ["SEED_AGENT_ID", "FakeVocode", "Fault", "PlayResult"]


class FakeVocode:
    """The fake Vocode API, served on a background thread while in a ``with`` block.

    ``api_key`` None accepts any bearer token (a missing one is still refused with 401).
    """

    def __init__(self, api_key: str | None = None, *, host: str = "127.0.0.1", port: int = 0):
        self.api_key = api_key
        self.state = FakeState(api_key)
        self.app = FakeApi(self.state)
        self._server = ServerThread(self.app, host=host, port=port, lifespan="off")
        self.url = self._server.url

    def __repr__(self) -> str:
        return f"FakeVocode(url={self.url!r})"

    def start(self) -> FakeVocode:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeVocode:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def created(self) -> list[CreateCallBody]:
        """Every create request that got as far as being recorded, oldest first, as the
        server read it (``model_fields_set``: the fields it carried)."""
        return self.state.created()

    @property
    def creates_in_flight(self) -> int:
        """Create requests the fake is still handling (a slow one commits when it ends,
        whether or not its client is still waiting)."""
        return self.state.creates_in_flight()

    @property
    def calls(self) -> list[Call]:
        """The calls the fake holds, oldest first."""
        return [Call.model_validate(call) for call in self.state.calls()]

    @property
    def webhooks(self) -> list[dict[str, Any]]:
        """The webhooks the fake holds, oldest first, as ``GET /v1/webhooks`` answers them."""
        return self.state.webhooks()

    def agent(self, agent_id: str = SEED_AGENT_ID) -> dict[str, Any]:
        """An agent as ``GET /v1/agents`` answers it (``KeyError`` if there is none)."""
        try:
            return self.state.agent(agent_id)
        except LookupError:
            raise KeyError(agent_id) from None

    def add_agent(self, **params: Any) -> str:
        """A new agent from ``CreateCallAgentParams`` fields (a plain one without); its id."""
        return self.state.add_agent(AgentParams.model_validate(params) if params else None)

    def inject(self, *faults: Fault, times: int = 1) -> None:
        """Script the next create requests (or gets of a call, for a fault with
        ``operation="get_call"``): one fault per request, in order (``times`` repeats the
        whole sequence). Requests beyond the script behave normally."""
        self.state.add_faults(list(faults), times)

    @property
    def lookups(self) -> dict[str, int]:
        """How many times each call was read with ``GET /v1/calls?id=``."""
        return self.state.lookups()

    @property
    def pending_faults(self) -> list[Fault]:
        return self.state.pending_faults()

    def clear_faults(self) -> None:
        self.state.clear_faults()

    def client(self, **kwargs: Any) -> VocodeClient:
        """A :class:`VocodeClient` pointed at this fake, with its key (or any key)."""
        return VocodeClient(self.api_key or "any-key", base_url=self.url, **kwargs)

    def play_call(
        self,
        receiver_url: str,
        *,
        call_id: str | None = None,
        to_number: str | None = None,
        from_number: str | None = None,
        n_messages: int = 4,
        did_not_connect: bool = False,
        telephony_status: str = "no-answer",
        human: bool = True,
        drop: list[str] | tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
    ) -> PlayResult:
        """POST a call's life as webhooks to ``receiver_url`` (the full webhook URL, token
        included) and return each delivery's status. A ``call_id`` the fake created lends
        its numbers; the call is then ended (or failed, with ``did_not_connect``), as
        ``GET /v1/calls?id=`` reports. ``human`` False: a machine answered. The event types
        in ``drop`` are not posted (``PlayResult.dropped`` holds them, to post late)."""
        request = PlayRequest(
            url=receiver_url,
            call_id=call_id,
            to_number=to_number,
            from_number=from_number,
            n_messages=n_messages,
            did_not_connect=did_not_connect,
            telephony_status=telephony_status,
            human=human,
            drop=list(drop),
            headers=headers,
        )
        call_id, events, dropped = plan_play(self.state, request)
        return post_events(receiver_url, call_id, events, headers=headers, dropped=dropped)
