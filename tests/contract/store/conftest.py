"""The ``store`` fixture: every contract test runs on SQLite and on MongoDB, each freshly made.

The MongoDB server is found, in order: ``PIPELINEJOBS_TEST_MONGODB_URL``; a testcontainers
MongoDB when a Docker engine answers; the ``nx-27017`` stand-in (a MongoDB wire-protocol server
on SQLite, from PyPI) started once per session on a free port. When none can be had the MongoDB
tests fail, unless ``PIPELINEJOBS_TEST_MONGODB=skip`` says skipping is acceptable. The backend
that ran is printed in the terminal summary.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from pipelinejobs.store.mongodb import MongoStore
from pipelinejobs.store.port import Store
from pipelinejobs.store.sqlite import SQLiteStore
from pymongo import AsyncMongoClient
from store_backends import MODE_ENV, URL_ENV, MongoBackend, NoBackendError, find_backend

BACKEND = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def mongodb_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MongoBackend]:
    """One MongoDB server for the whole session (fresh databases per test)."""
    with ExitStack() as stack:
        try:
            backend = find_backend(stack, tmp_path_factory.mktemp("nx-27017"))
        except NoBackendError as error:
            request.config.stash[BACKEND] = f"none ({error})"
            if os.environ.get(MODE_ENV) == "skip":
                pytest.skip(f"no MongoDB for the contract suite ({MODE_ENV}=skip): {error}")
            pytest.fail(
                f"no MongoDB for the contract suite: {error}. "
                f"Set {URL_ENV}, start Docker, or set {MODE_ENV}=skip to skip these tests.",
                pytrace=False,
            )
        request.config.stash[BACKEND] = backend.description
        yield backend


@pytest.fixture(params=["sqlite", pytest.param("mongodb", marks=pytest.mark.mongodb)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A started store with nothing in it: a new SQLite file, or a new MongoDB database."""
    if request.param == "sqlite":
        adapter: Store = SQLiteStore(tmp_path / "store.sqlite3")
        await adapter.start()
        yield adapter
        await adapter.close()
        return
    backend: MongoBackend = request.getfixturevalue("mongodb_backend")
    database = f"contract_{uuid.uuid4().hex[:16]}"
    adapter = MongoStore(backend.url, database, server_selection_timeout_ms=5000)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(backend.url)
        await client.drop_database(database)
        await client.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    description = terminalreporter.config.stash.get(BACKEND, None)
    if description is not None:
        terminalreporter.write_line(f"MongoDB contract backend: {description}")
