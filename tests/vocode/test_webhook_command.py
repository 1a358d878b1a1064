"""``receiver webhook register|show|unregister`` against the fake Vocode API over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

from receiver.events import HOSTED_EVENT_TYPES
from receiver.vocode.fake import SEED_AGENT_ID, FakeVocode

PUBLIC = "https://hooks.example.com"
NEW_TOKEN = "rotated-token-fedcba9876543210"
Run = Callable[..., Result]


@pytest.fixture
def run(cli: Run, fake: FakeVocode, api_key: str) -> Run:
    """``run(*args, **env)``: ``receiver webhook ...`` configured for the fake."""

    def invoke(*args: str, **env: str | None) -> Result:
        values: dict[str, str | None] = {
            "RECEIVER_VOCODE_API_KEY": api_key,
            "RECEIVER_VOCODE_BASE_URL": fake.url,
            "RECEIVER_PUBLIC_URL": PUBLIC,
        }
        values.update({f"RECEIVER_{k.upper()}": v for k, v in env.items()})
        return cli("webhook", *args, env=values)

    return invoke


def test_register_twice_makes_one_webhook_and_never_prints_the_token(
    run: Run, fake: FakeVocode, token: str
) -> None:
    """Created, then unchanged: one webhook with the URL, the hosted types and POST."""
    first, second = run("register"), run("register")
    assert (first.exit_code, second.exit_code) == (0, 0), first.output
    [hook] = fake.webhooks
    assert hook["url"] == f"{PUBLIC}/webhooks/vocode/{token}"
    assert (hook["subscriptions"], hook["method"]) == (list(HOSTED_EVENT_TYPES), "POST")
    assert first.output.startswith(f"created webhook {hook['id']}: POST {PUBLIC}")
    assert second.output.startswith(f"unchanged webhook {hook['id']}")
    assert "/webhooks/vocode/<token 1>" in first.output
    assert "event_transcript_complete" in first.output.splitlines()[-1]  # said, not sent
    assert token not in first.output + second.output


def test_register_updates_what_the_settings_changed(run: Run, fake: FakeVocode, token) -> None:
    """A new method, subscriptions or token (rotation) updates the one webhook in place."""
    run("register")
    method = run("register", "--method", "GET", "--show-token")
    assert method.output.startswith("updated webhook") and token in method.output
    fewer = "event_message,event_phone_call_ended"
    assert run("register", subscriptions=fewer).output.startswith("updated webhook")
    rotated = run("register", tokens=f"{NEW_TOKEN},{token}", subscriptions=fewer)
    assert rotated.output.startswith("updated webhook")
    [hook] = fake.webhooks
    assert hook["url"] == f"{PUBLIC}/webhooks/vocode/{NEW_TOKEN}"
    assert hook["subscriptions"] == ["event_message", "event_phone_call_ended"]
    assert hook["method"] == "POST"


def test_register_attaches_it_to_an_agent_once(run: Run, fake: FakeVocode) -> None:
    """--agent attaches the webhook; a second run finds it attached and changes nothing."""
    first = run("register", "--agent", SEED_AGENT_ID)
    again = run("register", "--agent", SEED_AGENT_ID)
    [hook] = fake.webhooks
    assert f"attached webhook {hook['id']} to agent {SEED_AGENT_ID}" in first.output
    assert f"agent {SEED_AGENT_ID} already uses webhook {hook['id']}" in again.output
    assert fake.agent()["webhook"]["id"] == hook["id"]
    missing = run("register", "--agent", "no-such-agent")
    assert missing.exit_code == 1 and "404" in missing.output


def test_show_says_whether_it_matches(run: Run, fake: FakeVocode, token: str) -> None:
    """show: none yet; then matching; then differing once the settings change."""
    assert "no webhook at Vocode points at this receiver" in run("show").output
    run("register", "--agent", SEED_AGENT_ID)
    shown = run("show", "--agent", SEED_AGENT_ID)
    assert "(matches)" in shown.output and "(this receiver's)" in shown.output
    assert token not in shown.output
    assert "(differs in subscriptions)" in run("show", subscriptions="event_message").output


def test_unregister_detaches_it_from_every_agent(run: Run, fake: FakeVocode) -> None:
    """Detached from each agent using it (or only --agent); a second run detaches nothing."""
    other = fake.add_agent(prompt={"content": "You are Sam."})
    run("register", "--agent", SEED_AGENT_ID)
    run("register", "--agent", other)
    only = run("unregister", "--agent", other)
    assert f"from agent {other}" in only.output
    assert fake.agent()["webhook"] is not None
    rest = run("unregister")
    assert f"detached webhook {fake.webhooks[0]['id']} from agent {SEED_AGENT_ID}" in rest.output
    assert fake.agent()["webhook"] is None and fake.agent(other)["webhook"] is None
    again = run("unregister")
    assert again.exit_code == 0 and "nothing to detach" in again.output
    assert len(fake.webhooks) == 1  # the API cannot delete it, and says so
    assert "stays at Vocode" in again.output


@pytest.mark.parametrize(
    ("env", "args", "named"),
    [
        ({"public_url": None}, (), "RECEIVER_PUBLIC_URL"),
        ({"vocode_api_key": None}, (), "RECEIVER_VOCODE_API_KEY"),
        ({"methods": "POST"}, ("--method", "GET"), "RECEIVER_METHODS"),
    ],
    ids=["no-public-url", "no-api-key", "method-not-served"],
)
def test_register_names_a_missing_setting(run: Run, fake: FakeVocode, env, args, named) -> None:
    """A setting the webhook needs is missing or contradicts it: exit 1, the variable named."""
    result = run("register", *args, **env)
    assert result.exit_code == 1 and named in result.output
    assert fake.webhooks == []
