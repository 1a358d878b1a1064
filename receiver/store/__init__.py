"""Storage backends behind one protocol. :func:`open_store` picks one from the database URL."""

from __future__ import annotations

from receiver.errors import SettingsError
from receiver.settings import Settings
from receiver.store.base import EventRecord, NewEvent, SchemaState, Store, Stored

__all__ = ["EventRecord", "NewEvent", "SchemaState", "Store", "Stored", "create_store"]


def create_store(settings: Settings) -> Store:
    """The store named by ``RECEIVER_DATABASE_URL`` (not yet opened)."""
    url = settings.database_url
    if url.startswith("sqlite:///"):
        from receiver.store.sqlite.store import SQLiteStore, path_from_url

        return SQLiteStore(
            path_from_url(url),
            synchronous=settings.sqlite_synchronous,
            batch_max=settings.commit_batch_max,
        )
    if url.startswith(("postgresql://", "postgres://")):
        from receiver.store.postgres.store import PostgresStore

        return PostgresStore(
            url, pool_size=settings.database_pool_size, batch_max=settings.commit_batch_max
        )
    raise SettingsError(
        "RECEIVER_DATABASE_URL: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"
    )
