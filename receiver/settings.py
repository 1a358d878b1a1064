"""Settings, read once from ``RECEIVER_*`` environment variables and passed down.

This is the only module that reads the environment.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from receiver.errors import SettingsError
from receiver.events import EVENT_TYPES

CommaList = Annotated[tuple[str, ...], NoDecode]
DEFAULT_DATABASE_URL = "sqlite:///./receiver.db"
HARNESS_VARIABLES = frozenset({"RECEIVER_TEST_DATABASE_URL", "RECEIVER_REQUIRE_POSTGRES"})
"""``RECEIVER_*`` variables of the project's test harness (``make test``, ``tests/pg_support.py``):
not settings, but the project's own, so never reported as unknown."""


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """``RECEIVER_DATABASE_URL``, parsed once: which store, and where.

    ``sqlite:///relative.db`` is a path relative to the working directory and
    ``sqlite:////abs.db`` an absolute one; ``postgresql://`` (or ``postgres://``) URLs are
    passed to the driver as they are.
    """

    url: str
    dialect: Literal["sqlite", "postgresql"]

    @classmethod
    def parse(cls, url: str) -> DatabaseUrl:
        if url.startswith("sqlite:///"):
            return cls(url, "sqlite")
        if url.startswith(("postgresql://", "postgres://")):
            return cls(url, "postgresql")
        raise ValueError("expected sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE")

    @property
    def path(self) -> str:
        """The SQLite file (``""`` for a PostgreSQL URL)."""
        return self.url.removeprefix("sqlite:///") if self.dialect == "sqlite" else ""

    @property
    def scheme(self) -> str:
        """What a log line may say of it: ``sqlite``, ``postgresql`` or ``postgres``."""
        return self.url.split(":", 1)[0]

    def __str__(self) -> str:
        return self.url


def _database_url(value: object) -> object:
    return DatabaseUrl.parse(value) if isinstance(value, str) else value


DatabaseUrlSetting = Annotated[
    DatabaseUrl, NoDecode, BeforeValidator(_database_url), PlainSerializer(str, return_type=str)
]


def _upper(value: object) -> object:
    """Log levels in any case, as Python's logging and uvicorn take them (``warning``)."""
    return value.strip().upper() if isinstance(value, str) else value


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """Every setting of the service. Build with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="RECEIVER_", frozen=True, extra="ignore", arbitrary_types_allowed=True
    )

    # intake
    tokens: CommaList = ()
    signing_secrets: CommaList = ()  # Standard Webhooks secrets (whsec_...) of relays that sign
    allow_unauthenticated: bool = False
    webhook_path: str = "/webhooks/vocode"
    methods: CommaList = ("GET", "POST")
    max_body_bytes: Annotated[int, Field(gt=0)] = 1024 * 1024
    subscriptions: CommaList = EVENT_TYPES

    # store
    database_url: DatabaseUrlSetting = DatabaseUrl.parse(DEFAULT_DATABASE_URL)
    sqlite_synchronous: Literal["FULL", "NORMAL", "EXTRA"] = "FULL"
    commit_batch_max: Annotated[int, Field(ge=1, le=10_000)] = 1000
    database_pool_size: Annotated[int, Field(ge=1, le=1000)] = 10  # PostgreSQL, per process
    retention_days: Annotated[float, Field(gt=0)] | None = None  # purge on a schedule

    # handlers and workers
    handlers: CommaList = ("handlers.log:router",)
    worker_concurrency: Annotated[int, Field(ge=1, le=10_000)] = 64
    worker_threads: Annotated[int, Field(ge=1, le=1000)] = 16
    poll_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 0.5
    lease_margin_seconds: Annotated[float, Field(gt=0)] = 30.0
    retry_base_seconds: Annotated[float, Field(gt=0)] = 1.0
    retry_cap_seconds: Annotated[float, Field(gt=0)] = 600.0
    shutdown_grace_seconds: Annotated[float, Field(ge=0)] = 25.0
    worker_metrics_port: Annotated[int, Field(ge=0, le=65535)] = 8001

    # follow-up calls
    follow_up_max_per_number: Annotated[int, Field(ge=0)] = 3
    follow_up_max_depth: Annotated[int, Field(ge=0)] = 2
    follow_up_rate_per_second: Annotated[float, Field(gt=0)] = 5.0
    follow_up_concurrency: Annotated[int, Field(ge=1, le=1000)] = 4
    follow_up_max_attempts: Annotated[int, Field(ge=1)] = 8
    follow_up_reconcile_delay_seconds: Annotated[float, Field(ge=0)] = 5.0
    follow_up_reconcile_window_seconds: Annotated[float, Field(ge=0)] = 120.0
    follow_up_lease_seconds: Annotated[float, Field(gt=0)] = 120.0
    default_region: Annotated[str, BeforeValidator(_upper)] | None = None  # e.g. US, GB

    # calls whose terminal event never came: looked up with GET /v1/calls
    reconcile: bool = True
    reconcile_after_seconds: Annotated[float, Field(gt=0)] = 900.0
    reconcile_give_up_hours: Annotated[float, Field(gt=0)] = 24.0

    # serving
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    public_url: str | None = None
    max_header_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    request_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 10.0
    keep_alive_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    max_connections: Annotated[int, Field(ge=1, le=1_000_000)] = 1000

    # logs and metrics
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)
    ] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    log_pii: bool = False
    metrics_token: str | None = None
    metrics_refresh_seconds: Annotated[float, Field(gt=0, le=300)] = 5.0

    # the operator console (off unless console_tokens is set)
    console_tokens: CommaList = ()
    console_path: str = "/console"
    console_pii: bool = False  # show numbers and texts in the console (or log_pii)
    console_session_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 12.0
    strict_settings: bool = False  # an unknown RECEIVER_* variable stops the process

    # Vocode API (follow-up calls)
    vocode_api_key: SecretStr | None = None
    vocode_base_url: str = "https://api.vocode.dev"
    vocode_timeout_seconds: Annotated[float, Field(gt=0)] = 10

    @field_validator("signing_secrets")
    @classmethod
    def _secrets_decode(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from standardwebhooks import Webhook

        for secret in value:
            try:
                Webhook(secret)
            except Exception:
                raise ValueError("each secret must be base64, optionally prefixed whsec_") from None
        return value

    @field_validator(
        "tokens",
        "methods",
        "subscriptions",
        "handlers",
        "signing_secrets",
        "console_tokens",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @field_validator("tokens", "console_tokens")
    @classmethod
    def _long_enough(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(len(token) < 16 for token in value):
            raise ValueError("each token must be at least 16 characters (use `receiver token`)")
        return value

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = tuple(m.upper() for m in value)
        if not value or not set(value) <= {"GET", "POST"}:
            raise ValueError("expected GET, POST or GET,POST")
        return value

    @field_validator("subscriptions")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; expected some of {list(EVENT_TYPES)}")
        return value

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        import phonenumbers

        if value is not None and value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                "expected a two-letter region code that numbers are written in when they "
                "have no +country code (US, GB, DE, FR, IN, ...)"
            )
        return value

    @field_validator("webhook_path", "console_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value.rstrip("/") or "/"

    @model_validator(mode="after")
    def _lease_outlasts_requests(self) -> Settings:
        if self.follow_up_lease_seconds < 2 * self.vocode_timeout_seconds:
            raise ValueError(
                "RECEIVER_FOLLOW_UP_LEASE_SECONDS must be at least twice "
                "RECEIVER_VOCODE_TIMEOUT_SECONDS: a sender must finish (or give up) a request "
                "before another may take the intent over"
            )
        return self

    @model_validator(mode="after")
    def _console_apart(self) -> Settings:
        if set(self.console_tokens) & set(self.tokens):
            raise ValueError(
                "RECEIVER_CONSOLE_TOKENS: a console token must not be a webhook token "
                "(RECEIVER_TOKENS): whoever holds the webhook URL would be an operator; "
                "make one with `receiver token`"
            )
        path = self.console_path.rstrip("/")
        taken = {self.webhook_path.rstrip("/"), "", "/metrics", "/healthz", "/readyz"}
        if path in taken or self.webhook_path.startswith(path + "/"):
            raise ValueError(
                "RECEIVER_CONSOLE_PATH: must not be /, nor the webhook path, /metrics, "
                "/healthz or /readyz"
            )
        return self

    @property
    def console_enabled(self) -> bool:
        """The console is served only when at least one operator token is set."""
        return bool(self.console_tokens)

    @property
    def show_pii(self) -> bool:
        """Whether the console shows numbers and texts (``console_pii`` or ``log_pii``)."""
        return self.console_pii or self.log_pii

    def check_serving(self) -> None:
        """Refuse to serve an open endpoint unless the operator asked for it."""
        if not self.tokens and not self.signing_secrets and not self.allow_unauthenticated:
            raise SettingsError(
                "RECEIVER_TOKENS: no token is set; set one or more (comma-separated, "
                "at least 16 characters; `receiver token` makes one), or set "
                "RECEIVER_ALLOW_UNAUTHENTICATED=true to accept unauthenticated deliveries"
            )


def known_variables() -> frozenset[str]:
    """Every ``RECEIVER_*`` variable that names a setting."""
    return frozenset(f"RECEIVER_{name.upper()}" for name in Settings.model_fields)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A line per ``RECEIVER_*`` variable that is no setting, naming the closest one.

    The test harness's own variables (:data:`HARNESS_VARIABLES`) are not reported.
    """
    environ = os.environ if environ is None else environ
    known = known_variables()
    suffixes = sorted(name.removeprefix("RECEIVER_") for name in known)
    lines = []
    for name in sorted(environ):
        if not name.startswith("RECEIVER_") or name in known or name in HARNESS_VARIABLES:
            continue
        close = difflib.get_close_matches(name.removeprefix("RECEIVER_"), suffixes, 1, 0.6)
        hint = f"; did you mean RECEIVER_{close[0]}?" if close else ""
        lines.append(f"{name} is not a setting of vocode-receiver{hint}")
    return lines


def tracing_exporters(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The span exporters the standard OpenTelemetry variables configure; none = no tracing.

    ``OTEL_TRACES_EXPORTER`` names them (comma-separated; ``none`` for none); without it, an
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` means OTLP;
    ``OTEL_SDK_DISABLED=true`` means none. ``otlp`` is OTLP over HTTP/protobuf unless
    ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` (or ``OTEL_EXPORTER_OTLP_PROTOCOL``) says ``grpc``.
    Every other ``OTEL_*`` variable (endpoint, headers, sampler, resource, batching) is read
    by the OpenTelemetry SDK itself.
    """
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    named = environ.get("OTEL_TRACES_EXPORTER")
    if named is None:
        endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        named = "otlp" if any(environ.get(v) for v in endpoints) else "none"
    exporters = [e.strip().lower() for e in named.split(",") if e.strip()]
    protocol = environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    otlp = "otlp_proto_grpc" if protocol.strip().lower() == "grpc" else "otlp_proto_http"
    return tuple(otlp if e == "otlp" else e for e in exporters if e != "none")


def load_settings(**overrides: object) -> Settings:
    """Read the environment; on a bad value raise :class:`SettingsError` naming the variable.

    With ``RECEIVER_STRICT_SETTINGS=true``, an unknown ``RECEIVER_*`` variable is an error too
    (without it, :func:`unknown_variables` is what the commands warn about at start).
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]  # pydantic checks them
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            message = error["msg"].removeprefix("Value error, ")
            if error["loc"]:
                message = f"RECEIVER_{str(error['loc'][0]).upper()}: {message}"
            lines.append(message)  # a check across settings names its variables itself
        raise SettingsError("\n".join(lines)) from None
    if settings.strict_settings and (unknown := unknown_variables()):
        raise SettingsError(
            "\n".join(unknown) + "\n(RECEIVER_STRICT_SETTINGS=true: unknown variables are errors)"
        )
    return settings
