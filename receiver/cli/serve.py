"""``receiver serve``, ``receiver worker`` and ``receiver token``."""

from __future__ import annotations

import secrets
import sys

import click
import structlog
from starlette.applications import Starlette

from receiver.cli.common import settings_or_exit
from receiver.errors import ReceiverError
from receiver.settings import Settings, unknown_variables


def webhook_url(settings: Settings, host: str, port: int) -> str:
    base = (
        settings.public_url or f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    )
    path = settings.webhook_path.rstrip("/")
    token = settings.tokens[0] if settings.tokens else ""
    return f"{base.rstrip('/')}{path}/{token}" if token else f"{base.rstrip('/')}{path}"


@click.command()
@click.option("--host", default=None, help="Interface to bind (default RECEIVER_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default RECEIVER_PORT, 8000).")
@click.option(
    "--print-url", is_flag=True, help="Print the webhook URL, token included, to register."
)
@click.option(
    "--intake-only",
    is_flag=True,
    help="Only receive: no workers, no sender (run `receiver worker` beside it).",
)
@click.option(
    "--reuse-port",
    is_flag=True,
    help="Share the port with other `receiver serve --reuse-port` processes (SO_REUSEPORT).",
)
def serve(
    host: str | None, port: int | None, print_url: bool, intake_only: bool, reuse_port: bool
) -> None:
    """Receive webhooks (and run the workers) in this process."""
    from receiver.app import freeze_startup_heap, service_app
    from receiver.logs import configure
    from receiver.service import build_services

    settings = settings_or_exit(warn=False)
    configure(settings)
    log = structlog.get_logger("receiver.serve")
    _warn_unknown(log)
    try:
        settings.check_serving()
        app = service_app(build_services(settings, workers=not intake_only))
    except ReceiverError as exc:
        raise click.ClickException(str(exc)) from None
    freeze_startup_heap()
    host = host or settings.host
    port = settings.port if port is None else port
    if settings.allow_unauthenticated and not settings.tokens:
        log.warning(
            "unauthenticated_endpoint",
            detail="RECEIVER_ALLOW_UNAUTHENTICATED=true and no RECEIVER_TOKENS: "
            "anyone who can reach this port can post events",
        )
    if print_url:
        print(
            f"\nRegister this as your Vocode agent's webhook URL:\n\n"
            f"    {webhook_url(settings, host, port)}\n",
            file=sys.stderr,
            flush=True,
        )
    log.info(
        "serving", host=host, port=port, database=settings.database_url.scheme,
        workers=not intake_only,
    )  # fmt: skip
    _run(app, settings, host, port, reuse_port=reuse_port)


def _run(
    app: Starlette, settings: Settings, host: str, port: int, *, reuse_port: bool = False
) -> None:
    from receiver.serving import serve

    serve(app, settings, host=host, port=port, reuse_port=reuse_port)


@click.command()
@click.option("--host", default=None, help="Interface for /metrics and health (RECEIVER_HOST).")
@click.option("--port", default=None, type=int, help="Port (RECEIVER_WORKER_METRICS_PORT, 8001).")
def worker(host: str | None, port: int | None) -> None:
    """Run only workers (no webhook endpoint); /metrics, /healthz, /readyz on their own port."""
    from receiver.app import worker_app
    from receiver.logs import configure
    from receiver.service import build_services

    settings = settings_or_exit(warn=False)
    configure(settings)
    _warn_unknown(structlog.get_logger("receiver.worker"))
    try:
        services = build_services(settings)
    except ReceiverError as exc:
        raise click.ClickException(str(exc)) from None
    if not len(services.registry):
        raise click.ClickException(
            "RECEIVER_HANDLERS: no handlers loaded; a worker has nothing to do"
        )
    app = worker_app(services)
    host = host or settings.host
    port = settings.worker_metrics_port if port is None else port
    structlog.get_logger("receiver.worker").info("worker_starting", host=host, port=port)
    _run(app, settings, host, port)


def _warn_unknown(log: structlog.typing.FilteringBoundLogger) -> None:
    for line in unknown_variables():
        variable, _, hint = line.partition(" is not a setting of vocode-receiver")
        log.warning("unknown_setting", variable=variable, hint=hint.lstrip("; ") or None)


@click.command()
def token() -> None:
    """Print a new random token for RECEIVER_TOKENS."""
    click.echo(secrets.token_urlsafe(32))
