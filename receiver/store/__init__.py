"""Storage behind one protocol (:class:`Store`); :func:`create_store` picks the backend that
``RECEIVER_DATABASE_URL`` names."""

from __future__ import annotations

from receiver.errors import DependencyError
from receiver.settings import Settings
from receiver.store.base import Store
from receiver.store.records import EventRecord, NewEvent, SchemaState, Stored

__all__ = ["EventRecord", "NewEvent", "SchemaState", "Store", "Stored", "create_store"]


def create_store(settings: Settings) -> Store:
    """The store named by ``RECEIVER_DATABASE_URL`` (not yet opened)."""
    url = settings.database_url
    if url.dialect == "sqlite":
        from receiver.store.sqlite.store import SQLiteStore

        return SQLiteStore(
            url.path,
            synchronous=settings.sqlite_synchronous,
            batch_max=settings.commit_batch_max,
            default_region=settings.default_region,
        )
    try:
        from receiver.store.postgres.store import PostgresStore
    except ModuleNotFoundError as exc:
        if exc.name != "asyncpg":
            raise
        raise DependencyError(
            f"RECEIVER_DATABASE_URL is a {url.scheme}:// URL, but the PostgreSQL driver "
            "(asyncpg) is not installed: pip install 'vocode-receiver[postgres]'"
        ) from None

    return PostgresStore(
        url.url,
        pool_size=settings.database_pool_size,
        batch_max=settings.commit_batch_max,
        default_region=settings.default_region,
    )
