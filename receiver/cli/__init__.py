"""The ``receiver`` command."""

from __future__ import annotations

import click

from receiver import __version__
from receiver.cli.calls import calls
from receiver.cli.deliveries import deliveries, replay
from receiver.cli.events import events
from receiver.cli.fake import fake_vocode
from receiver.cli.follow_ups import dnc, follow_ups
from receiver.cli.handlers import handlers
from receiver.cli.migrate import migrate
from receiver.cli.purge import purge
from receiver.cli.send import send
from receiver.cli.serve import serve, token, worker
from receiver.cli.webhook import webhook


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="receiver")
def main() -> None:
    """vocode-receiver: receive, store and dispatch Vocode webhook events.

    Settings come from RECEIVER_* environment variables (see the README).
    """


for command in (serve, worker, migrate, token, events, deliveries, replay, handlers):
    main.add_command(command)
main.add_command(send)
main.add_command(fake_vocode)
main.add_command(follow_ups)
main.add_command(dnc)
main.add_command(purge)
main.add_command(webhook)
main.add_command(calls)
