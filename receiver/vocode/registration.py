"""This receiver's webhook at Vocode: register it, show it, detach it from agents.

The webhook Vocode should call is built from the settings: ``RECEIVER_PUBLIC_URL`` +
``RECEIVER_WEBHOOK_PATH`` + ``/`` + the first of ``RECEIVER_TOKENS``, subscribed to
``RECEIVER_SUBSCRIPTIONS`` (the types hosted Vocode sends: ``event_transcript_complete``
comes only from the self-hosted library). A webhook at Vocode is *ours* when its URL is that
of any configured token, so after a token rotation ``register`` moves the old webhook to the
new URL rather than adding a second one. Every step is idempotent: run twice, one webhook.

The Vocode API has no call that deletes a webhook: ``unregister`` detaches ours from the
agents that use it (an agent's webhook set to null), after which Vocode sends it nothing.

Example::

    target = Target.from_settings(settings)
    async with VocodeClient.from_settings(settings) as vocode:
        for step in await register(vocode, target, agent_id="0b6f7e0a-..."):
            print(step.describe(target))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from receiver.errors import SettingsError
from receiver.events import HOSTED_EVENT_TYPES
from receiver.settings import Settings
from receiver.vocode.client import VocodeClient
from receiver.vocode.models import CallAgent, Webhook

PAGE = 100


@dataclass(frozen=True, slots=True)
class Target:
    """The webhook this receiver wants, and how to recognise (and show) its own."""

    url: str  # with the first token: the one to register
    subscriptions: tuple[str, ...]
    method: str
    left_out: tuple[str, ...]  # subscribed here, but not a type hosted Vocode sends
    urls: tuple[str, ...]  # the URL of each configured token, in RECEIVER_TOKENS order

    @classmethod
    def from_settings(cls, settings: Settings, method: str = "POST") -> Target:
        if not settings.public_url:
            raise SettingsError(
                "RECEIVER_PUBLIC_URL: not set; it is the address Vocode reaches this "
                "receiver at (e.g. https://hooks.example.com)"
            )
        if not settings.tokens:
            raise SettingsError("RECEIVER_TOKENS: not set; the webhook URL carries the first")
        if method not in settings.methods:
            raise SettingsError(
                f"RECEIVER_METHODS: {','.join(settings.methods)} does not include {method}: "
                "the receiver would refuse Vocode's deliveries"
            )
        base = settings.public_url.rstrip("/") + settings.webhook_path.rstrip("/")
        hosted = set(HOSTED_EVENT_TYPES)
        return cls(
            url=f"{base}/{settings.tokens[0]}",
            subscriptions=tuple(t for t in settings.subscriptions if t in hosted),
            method=method,
            left_out=tuple(t for t in settings.subscriptions if t not in hosted),
            urls=tuple(f"{base}/{token}" for token in settings.tokens),
        )

    def shown(self, url: str, show_token: bool = False) -> str:
        """``url`` with its token replaced by ``<token N>`` (its place in RECEIVER_TOKENS)."""
        if show_token or url not in self.urls:
            return url
        base = url.rsplit("/", 1)[0]
        return f"{base}/<token {self.urls.index(url) + 1}>"

    def differences(self, webhook: Webhook) -> list[str]:
        """What of ``webhook`` is not as wanted (empty when it matches)."""
        found = []
        if webhook.url != self.url:
            found.append("url")
        if sorted(webhook.subscriptions) != sorted(self.subscriptions):
            found.append("subscriptions")
        if (webhook.method or "POST") != self.method:
            found.append("method")
        return found


Action = Literal[
    "created", "updated", "unchanged", "attached", "already_attached", "detached", "not_attached"
]


@dataclass(frozen=True, slots=True)
class Step:
    """One thing done (or found already done) at Vocode."""

    action: Action
    webhook: Webhook
    agent_id: str | None = None

    def describe(self, target: Target, show_token: bool = False) -> str:
        hook = self.webhook
        what = f"webhook {hook.id}"
        if self.agent_id is None:
            url = target.shown(hook.url, show_token)
            subscribed = ", ".join(hook.subscriptions)
            return f"{self.action} {what}: {hook.method or 'POST'} {url} [{subscribed}]"
        return {
            "attached": f"attached {what} to agent {self.agent_id}",
            "already_attached": f"agent {self.agent_id} already uses {what}",
            "detached": f"detached {what} from agent {self.agent_id}",
        }.get(self.action, f"agent {self.agent_id} does not use {what}")


async def ours(vocode: VocodeClient, target: Target) -> list[Webhook]:
    """Every webhook at Vocode whose URL is this receiver's (any configured token)."""
    found: list[Webhook] = []
    page_number = 1
    while True:
        page = await vocode.list_webhooks(page_number, PAGE)
        found += [w for w in page.items if w.url in target.urls]
        if not page.has_more or not page.items:
            return found
        page_number += 1


async def register(
    vocode: VocodeClient, target: Target, agent_id: str | None = None
) -> list[Step]:
    """Create the webhook, or bring ours to the target; then attach it to ``agent_id``."""
    existing = sorted(await ours(vocode, target), key=lambda w: w.url != target.url)
    subscriptions, method = list(target.subscriptions), target.method
    if not existing:
        webhook = await vocode.create_webhook(
            url=target.url, subscriptions=subscriptions, method=method
        )
        steps = [Step("created", webhook)]
    elif target.differences(existing[0]):
        webhook = await vocode.update_webhook(
            existing[0].id, url=target.url, subscriptions=subscriptions, method=method
        )
        steps = [Step("updated", webhook)]
    else:
        webhook = existing[0]
        steps = [Step("unchanged", webhook)]
    if agent_id is not None:
        agent = await vocode.get_agent(agent_id)
        if agent.webhook_id == webhook.id:
            steps.append(Step("already_attached", webhook, agent_id))
        else:
            await vocode.update_agent(agent_id, webhook=webhook.id)
            steps.append(Step("attached", webhook, agent_id))
    return steps


async def unregister(
    vocode: VocodeClient, target: Target, agent_id: str | None = None
) -> list[Step]:
    """Detach our webhooks from ``agent_id``, or from every agent that uses one."""
    webhooks = {w.id: w for w in await ours(vocode, target)}
    steps: list[Step] = []
    if agent_id is not None:
        agent_ids = [agent_id]
    else:
        agent_ids = [a.id for a in await _agents_using(vocode, set(webhooks)) if a.id]
    for agent in agent_ids:
        current = (await vocode.get_agent(agent)).webhook_id
        if current in webhooks:
            await vocode.update_agent(agent, webhook=None)
            steps.append(Step("detached", webhooks[current], agent))
        elif agent_id is not None and webhooks:
            steps.append(Step("not_attached", next(iter(webhooks.values())), agent))
    return steps


async def _agents_using(vocode: VocodeClient, webhook_ids: set[str]) -> list[CallAgent]:
    found: list[CallAgent] = []
    page_number = 1
    while webhook_ids:
        page = await vocode.list_agents(page_number, PAGE)
        found += [a for a in page.items if a.webhook_id in webhook_ids]
        if not page.has_more or not page.items:
            break
        page_number += 1
    return found
