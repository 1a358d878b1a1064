"""Handler registration and discovery: mistakes fail at start-up, naming the handler."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from receiver import Router
from receiver.delivery.registry import Registry, import_router, load_registry
from receiver.errors import HandlerError
from receiver.testing import make_event


def test_unknown_event_type_fails_at_registration() -> None:
    """A typo in an event type is refused when the module is imported, naming the handler."""
    router = Router("team")
    with pytest.raises(HandlerError, match=r"team\.save.*event_mesage"):

        @router.on("event_mesage")
        async def save(event, ctx) -> None: ...


def test_wrong_signature_fails_at_registration() -> None:
    """A handler that does not take (event, ctx) is refused, naming it."""
    router = Router("team")
    with pytest.raises(HandlerError, match=r"team\.one_arg.*\(event, ctx\)"):

        @router.on("event_message")
        async def one_arg(event) -> None: ...


def test_duplicate_handler_names_fail() -> None:
    """Two handlers of one name, in one router or across loaded routers, are refused."""
    router = Router("team")

    @router.on("event_message")
    async def save(event, ctx) -> None: ...

    with pytest.raises(HandlerError, match="registered twice"):
        router.on("event_action", name="save")(save)
    twin = Router("team")
    twin.on("event_action", name="save")(save)
    with pytest.raises(HandlerError, match=r"team\.save: loaded twice"):
        Registry([router, twin])


def test_bad_options_fail() -> None:
    """A non-positive max_attempts or timeout is refused at registration."""
    router = Router("team")
    with pytest.raises(HandlerError, match="max_attempts"):
        router.on("event_message", max_attempts=0)(lambda event, ctx: None)
    with pytest.raises(HandlerError, match="timeout"):
        router.on("event_message", timeout=-1)(lambda event, ctx: None)


def test_route_matches_types_star_and_when() -> None:
    """An event is routed to handlers of its type, to '*', and only where `when` holds."""
    router = Router("team")

    @router.on("event_message")
    async def messages(event, ctx) -> None: ...

    @router.on("*")
    async def everything(event, ctx) -> None: ...

    @router.on("event_message", when=lambda e: e.payload.sender == "bot")
    async def bot_only(event, ctx) -> None: ...

    registry = Registry([router])
    human = make_event("event_message", sender="human")
    assert registry.route(human) == ("team.messages", "team.everything")
    bot = make_event("event_message", sender="bot")
    assert registry.route(bot) == ("team.messages", "team.everything", "team.bot_only")
    unknown = make_event("event_recording").model_copy(update={"type": "event_new_kind"})
    assert registry.route(unknown) == ("team.everything",)


def test_import_failure_names_the_import_error() -> None:
    """A handler module that fails to import stops loading with the import error."""
    with pytest.raises(HandlerError, match=r"no_such_module_xyz.*ModuleNotFoundError"):
        load_registry(["no_such_module_xyz:router"])
    with pytest.raises(HandlerError, match=r"not a receiver\.Router"):
        import_router("handlers.log:summary")
    with pytest.raises(HandlerError, match="module:router"):
        import_router("handlers.log")


def test_entry_point_routers_are_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed package's router in the `receiver.handlers` entry point group is loaded."""
    (tmp_path / "teamx_hooks.py").write_text(
        textwrap.dedent(
            """
            from receiver import Router
            router = Router("teamx")

            @router.on("event_transcript")
            async def archive(event, ctx):
                pass
            """
        )
    )
    dist = tmp_path / "teamx_hooks-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: teamx-hooks\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[receiver.handlers]\nteamx = teamx_hooks:router\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = load_registry(["handlers.log:router"])
    assert set(registry.handlers) == {"log.events", "teamx.archive"}
    assert registry.sources["teamx.archive"] == "entry point teamx"
    sys.modules.pop("teamx_hooks", None)
