"""``receiver webhook register|show|unregister``: this receiver's webhook at Vocode.

The URL is ``RECEIVER_PUBLIC_URL`` + ``RECEIVER_WEBHOOK_PATH`` + the first token, the
subscriptions ``RECEIVER_SUBSCRIPTIONS``; the API key ``RECEIVER_VOCODE_API_KEY``. Tokens
are printed as ``<token N>`` unless ``--show-token`` is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from receiver.cli.common import command_logs, settings_or_exit
from receiver.errors import ReceiverError
from receiver.vocode.client import VocodeClient
from receiver.vocode.models import Webhook
from receiver.vocode.registration import Target, ours, register, unregister

T = TypeVar("T")
SHOW_TOKEN = click.option("--show-token", is_flag=True, help="Print URLs with their token.")
AGENT = "the Vocode agent id"


def _at_vocode(
    method: str, work: Callable[[VocodeClient, Target], Awaitable[T]]
) -> tuple[T, Target]:
    """Run ``work`` with a client of the Vocode API and the target the settings describe."""
    settings = settings_or_exit()

    async def main() -> T:
        async with VocodeClient.from_settings(settings) as vocode:
            return await work(vocode, target)

    try:
        target = Target.from_settings(settings, method)
        with command_logs(settings):
            return asyncio.run(main()), target
    except ReceiverError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def webhook() -> None:
    """This receiver's webhook at Vocode: register it, show it, detach it from agents."""


@webhook.command("register")
@click.option(
    "--method",
    type=click.Choice(["POST", "GET"]),
    default="POST",
    show_default=True,
    help="How Vocode delivers events.",
)
@click.option("--agent", "agent_id", default=None, metavar="ID", help=f"Attach it to {AGENT}.")
@SHOW_TOKEN
def register_webhook(method: str, agent_id: str | None, show_token: bool) -> None:
    """Create this receiver's webhook at Vocode, or update it to match the settings.

    Idempotent: run it twice, there is still one webhook. After a token rotation it moves
    the webhook to the first token's URL.
    """
    steps, target = _at_vocode(method, lambda vocode, t: register(vocode, t, agent_id))
    for step in steps:
        click.echo(step.describe(target, show_token))
    if target.left_out:
        left = ", ".join(target.left_out)
        click.echo(f"not subscribed at Vocode (only the self-hosted library sends it): {left}")


@webhook.command("show")
@click.option("--agent", "agent_id", default=None, metavar="ID", help=f"Also show {AGENT}'s.")
@SHOW_TOKEN
def show_webhook(agent_id: str | None, show_token: bool) -> None:
    """This receiver's webhooks at Vocode, and whether they match the settings."""

    async def look(vocode: VocodeClient, target: Target) -> tuple[list[Webhook], str | None]:
        found = await ours(vocode, target)
        used = (await vocode.get_agent(agent_id)).webhook_id if agent_id else None
        return found, used

    (found, used), target = _at_vocode("POST", look)
    wanted = f"{target.method} {target.shown(target.url, show_token)}"
    click.echo(f"wanted: {wanted} [{', '.join(target.subscriptions)}]")
    if not found:
        click.echo("no webhook at Vocode points at this receiver: run `receiver webhook register`")
    for hook in found:
        differs = target.differences(hook)
        state = f"differs in {', '.join(differs)}" if differs else "matches"
        url = target.shown(hook.url, show_token)
        subscribed = ", ".join(hook.subscriptions)
        click.echo(f"webhook {hook.id}: {hook.method or 'POST'} {url} [{subscribed}] ({state})")
    if agent_id:
        if used is None:
            click.echo(f"agent {agent_id} has no webhook")
        else:
            whose = "this receiver's" if used in {h.id for h in found} else "not this receiver's"
            click.echo(f"agent {agent_id} uses webhook {used} ({whose})")


@webhook.command("unregister")
@click.option("--agent", "agent_id", default=None, metavar="ID", help=f"Only from {AGENT}.")
def unregister_webhook(agent_id: str | None) -> None:
    """Detach this receiver's webhook from the agents that use it (or from --agent).

    The Vocode API has no call that deletes a webhook: once no agent uses it, Vocode sends
    it nothing. Idempotent.
    """
    steps, target = _at_vocode("POST", lambda vocode, t: unregister(vocode, t, agent_id))
    for step in steps:
        click.echo(step.describe(target))
    if not any(step.action == "detached" for step in steps):
        click.echo("no agent uses this receiver's webhook: nothing to detach")
    click.echo("the webhook itself stays at Vocode (its API cannot delete one)")
