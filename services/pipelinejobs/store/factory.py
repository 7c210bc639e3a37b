"""Pick the store adapter from configuration: a MongoDB URL, or the embedded SQLite file."""

from __future__ import annotations

from pathlib import Path

from pipelinejobs.store.port import Store

SQLITE_FILE = "pipelinejobs.sqlite3"


def create_store(
    mongodb_url: str | None,
    data_dir: Path,
    *,
    database: str = "pipelinejobs",
    write_concern: str | int = "majority",
    journal: bool = True,
    lock_timeout: float | None = None,
) -> Store:
    """MongoDB at ``mongodb_url`` when one is configured, else SQLite in ``data_dir``.

    ``write_concern`` and ``journal`` are MongoDB's (see
    :func:`~pipelinejobs.store.mongodb.write_concern_of`); SQLite commits durably anyway.
    ``lock_timeout`` is SQLite's bound on waiting for a locked file (its default when None). The
    store is returned unstarted; ``await store.start()`` connects and creates the schema.
    """
    if mongodb_url:
        from pipelinejobs.store.mongodb import MongoStore

        return MongoStore(mongodb_url, database, write_concern=write_concern, journal=journal)
    from pipelinejobs.store.sqlite import SQLiteStore

    if lock_timeout is None:
        return SQLiteStore(Path(data_dir) / SQLITE_FILE)
    return SQLiteStore(Path(data_dir) / SQLITE_FILE, busy_timeout=lock_timeout)
