"""What each adapter promises beyond the shared contract: files, raw layout, errors, factory."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import uuid
from pathlib import Path

import pytest
from pipelinejobs.errors import StoreUnavailable, VersionConflict
from pipelinejobs.store.factory import create_store
from pipelinejobs.store.mongodb import MongoStore
from pipelinejobs.store.sqlite import SQLiteStore
from pymongo import AsyncMongoClient
from store_backends import MongoBackend
from store_samples import event, job


# -- SQLite --------------------------------------------------------------------------------
async def test_sqlite_documents_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "store.sqlite3"
    first = SQLiteStore(path)
    await first.start()
    created, _ = await first.create_document("jobs", job(), message_id="m-1")
    await first.close()
    second = SQLiteStore(path)
    await second.start()
    await second.start()
    try:
        assert await second.get_document("jobs", created.uuid) == created
    finally:
        await second.close()


async def test_sqlite_locked_by_another_writer_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = SQLiteStore(path, busy_timeout=0.05)
    await store.start()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable, match="locked"):
            await store.create_document("jobs", job(), message_id="m-1")
        other.execute("ROLLBACK")
        _, inserted = await store.create_document("jobs", job(), message_id="m-1")
        assert inserted
    finally:
        other.close()
        await store.close()


async def test_sqlite_stores_sharing_a_file_still_apply_each_event_once(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    stores = [SQLiteStore(path), SQLiteStore(path)]
    for store in stores:
        await store.start()
    created, _ = await stores[0].create_document("jobs", job(), message_id="m-create")

    async def appender(store: SQLiteStore, number: int) -> None:
        while True:
            current = await store.get_document("jobs", created.uuid)
            assert current is not None
            try:
                await store.append_event(
                    "jobs",
                    created.uuid,
                    expected_version=current.version,
                    event=event(f"event-{number}"),
                    changes={},
                    message_id=f"m-{number}",
                )
                return
            except VersionConflict:
                await asyncio.sleep(0)

    try:
        await asyncio.gather(*(appender(stores[n % 2], n) for n in range(10)))
        final = await stores[1].get_document("jobs", created.uuid)
        assert final is not None
        assert final.version == 11
        assert len(final.body["history"]) == 11
    finally:
        for store in stores:
            await store.close()


async def test_sqlite_file_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "not-a-directory").write_text("")
    store = SQLiteStore(tmp_path / "not-a-directory" / "store.sqlite3")
    with pytest.raises(StoreUnavailable, match="SQLite"):
        await store.start()


async def test_sqlite_store_that_is_not_started_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.sqlite3")
    with pytest.raises(StoreUnavailable, match="start"):
        await store.ping()


async def test_sqlite_in_memory_store_works(tmp_path: Path) -> None:
    store = SQLiteStore(":memory:")
    await store.start()
    try:
        created, _ = await store.create_document("jobs", job(), message_id="m-1")
        assert await store.get_document("jobs", created.uuid) == created
    finally:
        await store.close()


# -- MongoDB -------------------------------------------------------------------------------
@pytest.mark.mongodb
async def test_mongodb_keeps_private_fields_beside_the_body(
    mongodb_backend: MongoBackend,
) -> None:
    database = f"contract_{uuid.uuid4().hex[:16]}"
    store = MongoStore(mongodb_backend.url, database)
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_backend.url)
    try:
        await store.start()
        await store.start()
        created, _ = await store.create_document("jobs", job(), message_id="m-1")
        run = event("run")
        await store.append_event(
            "jobs",
            created.uuid,
            expected_version=1,
            event=run,
            changes={"state": "RUNNING"},
            message_id="m-2",
        )
        raw = await client[database]["jobs"].find_one({"_id": created.uuid})
        assert raw is not None
        assert (raw["_id"], raw["_version"], raw["_messages"]) == (created.uuid, 2, ["m-1", "m-2"])
        assert raw["history"] == [*created.body["history"], run]
    finally:
        await store.close()
        await client.drop_database(database)
        await client.close()


async def test_mongodb_that_does_not_answer_is_unavailable() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    store = MongoStore(f"mongodb://127.0.0.1:{port}/", server_selection_timeout_ms=200)
    try:
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await store.start()
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await store.ping()
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await store.get_document("jobs", "job-1")
    finally:
        await store.close()


async def test_mongodb_store_that_is_not_started_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match="start"):
        await MongoStore("mongodb://127.0.0.1:1/").ping()


# -- factory -------------------------------------------------------------------------------
def test_factory_chooses_sqlite_without_a_url(tmp_path: Path) -> None:
    store = create_store(None, tmp_path)
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "pipelinejobs.sqlite3"


def test_factory_chooses_mongodb_with_a_url(tmp_path: Path) -> None:
    store = create_store("mongodb://db.example:27017/", tmp_path, database="pj")
    assert isinstance(store, MongoStore)
    assert (store.url, store.database) == ("mongodb://db.example:27017/", "pj")
