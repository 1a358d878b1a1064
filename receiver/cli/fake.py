"""``receiver fake-vocode``: a local stand-in for the Vocode API."""

from __future__ import annotations

import sys

import click

USAGE = """\
Fake Vocode API on {url}  (API key: {key})

Point the receiver at it:
    RECEIVER_VOCODE_BASE_URL={url} RECEIVER_VOCODE_API_KEY=<the key> receiver serve

It answers the official SDK (vocode-api 0.0.48) in its shapes: calls (create, get, list,
end, recording), webhooks (create, get, list, update), agents (get, list, update). It starts
with one agent, {agent}.

Script the next create requests, see what was created, play a call's webhooks:
    curl -X POST {url}/_fake/faults -d '{{"faults": [{{"kind": "status", "status": 429, \
"retry_after": "2"}}]}}'
    curl {url}/_fake/created
    curl -X POST {url}/_fake/play -d '{{"url": "<the receiver's webhook URL>", "n_messages": 4}}'

Lose events of a played call (GET /v1/calls?id= still reports how it ended), or let a machine
answer it:
    curl -X POST {url}/_fake/play -d '{{"url": "...", "drop": ["event_phone_call_ended"]}}'
    curl -X POST {url}/_fake/play -d '{{"url": "...", "human": false}}'
"""


@click.command("fake-vocode")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8010, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--api-key",
    default=None,
    help="The only bearer key accepted (default: any key; a missing one is refused).",
)
def fake_vocode(host: str, port: int, api_key: str | None) -> None:
    """Serve a fake Vocode API that records the calls it is asked to create.

    It answers what the official SDK asks, in the SDK's shapes: /v1/calls/create, /v1/calls,
    /v1/calls/list, /v1/calls/end, /v1/calls/recording, /v1/webhooks/create|update|list,
    /v1/webhooks, /v1/agents, /v1/agents/list|update. It is scripted over HTTP:
    POST /_fake/faults (of creates, or of gets with "operation": "get_call"), GET
    /_fake/created, POST /_fake/play (a call's webhooks, "drop" leaving some out).
    """
    import uvicorn

    from receiver.vocode.fake.api import FakeApi
    from receiver.vocode.fake.shapes import SEED_AGENT_ID
    from receiver.vocode.fake.state import FakeState

    url = f"http://{host}:{port}"
    shown_key = "any" if api_key is None else "as given"
    print(USAGE.format(url=url, key=shown_key, agent=SEED_AGENT_ID), file=sys.stderr, flush=True)
    uvicorn.run(
        FakeApi(FakeState(api_key)),
        host=host,
        port=port,
        lifespan="off",
        loop="asyncio",
        log_level="info",
        access_log=True,
        server_header=False,
    )
