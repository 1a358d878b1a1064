"""Enrichment: the ``Call`` a handler registered with ``enrich=True`` gets as ``ctx.call``.

It is fetched (``GET /v1/calls?id=``) once per event and kept with the event in the store,
so ten handlers of one event make one request; in one process, handlers that ask at the same
moment share that one request. A synthesised event comes with the Call it was made from.
The API not knowing the call (404) is an answer too, kept as such: ``ctx.call`` is None.
Requests share the follow-up sender's rate cap.

Example::

    @router.on("event_phone_call_ended", enrich=True)
    async def close_in_crm(event, ctx):
        if ctx.call is not None and ctx.call.recording_available: ...
"""

from __future__ import annotations

import asyncio

from aiolimiter import AsyncLimiter

from receiver.errors import VocodeError
from receiver.store.base import Store
from receiver.vocode.client import VocodeClient
from receiver.vocode.models import Call

NOT_FOUND = "null"
"""What is kept for an event whose call the API does not know."""


class Enricher:
    """The Call of an event: kept in the store, else fetched once and kept."""

    def __init__(self, store: Store, client: VocodeClient, limiter: AsyncLimiter) -> None:
        self.store = store
        self.client = client
        self.limiter = limiter
        self._loading: dict[str, asyncio.Future[Call | None]] = {}

    async def call(self, event_id: str, call_id: str) -> Call | None:
        """The Call for ``event_id`` (None: the API does not know ``call_id``). Raises
        :class:`~receiver.errors.VocodeError` when it could not be fetched: try again later."""
        loading = self._loading.get(event_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(event_id, call_id))
            self._loading[event_id] = loading
            loading.add_done_callback(lambda done: self._loaded(event_id, done))
        # shielded: one handler giving up (its timeout) does not cancel the others' request
        return await asyncio.shield(loading)

    def _loaded(self, event_id: str, done: asyncio.Future[Call | None]) -> None:
        self._loading.pop(event_id, None)
        if not done.cancelled():
            done.exception()  # retrieved here too: every caller may have given up

    async def _load(self, event_id: str, call_id: str) -> Call | None:
        kept = await self.store.call_snapshot(event_id)
        if kept is None:
            async with self.limiter:
                try:
                    fetched = (await self.client.get_call(call_id)).model_dump_json()
                except VocodeError as exc:
                    if exc.status != 404:
                        raise
                    fetched = NOT_FOUND
            kept = await self.store.save_call_snapshot(event_id, fetched) or fetched
        return None if kept == NOT_FOUND else Call.model_validate_json(kept)
