"""What each adapter promises beyond the shared contract: files, raw layout, errors, factory."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import uuid
from pathlib import Path

import pytest
from pipelinejobs.errors import InvalidInput, StoreUnavailable, VersionConflict
from pipelinejobs.host.bootstrap import build_system
from pipelinejobs.settings import Settings
from pipelinejobs.store.factory import create_store
from pipelinejobs.store.mongodb import MongoStore
from pipelinejobs.store.port import AppendOutcome
from pipelinejobs.store.sqlite import SQLiteStore
from pymongo import AsyncMongoClient, WriteConcern
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
        assert await second.get_document("jobs", created.uuid, message_ids=["m-1"]) == created
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
        assert len(await stores[0].read_events("jobs", created.uuid, limit=100)) == 11
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
        assert await store.get_document("jobs", created.uuid, message_ids=["m-1"]) == created
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
        assert (raw["_id"], raw["_version"], raw["state"]) == (created.uuid, 2, "RUNNING")
        assert "history" not in raw
        events = client[database]["events"].find({"stream": created.uuid}).sort("version", 1)
        stored = [record async for record in events]
        assert [(r["_id"], r["message_id"]) for r in stored] == [
            (f"{created.uuid}:1", "m-1"),
            (f"{created.uuid}:2", "m-2"),
        ]
        assert stored[1]["event"] == run
    finally:
        await store.close()
        await client.drop_database(database)
        await client.close()


@pytest.mark.mongodb
async def test_mongodb_writes_with_the_configured_write_concern(
    mongodb_backend: MongoBackend, tmp_path: Path
) -> None:
    """From the settings to every collection the store writes to, and the writes go through."""
    database = f"contract_{uuid.uuid4().hex[:16]}"
    settings = Settings(
        data_dir=tmp_path,
        mongodb_url=mongodb_backend.url,
        mongodb_database=database,
        mongodb_write_concern="1",
        mongodb_journal=False,
        log_json=False,
    )
    store = build_system(settings, actors=[]).store
    assert isinstance(store, MongoStore)
    try:
        await store.start()
        created, _ = await store.create_document("jobs", job(), message_id="m-1")
        await store.save_execution({"id": "exec-1", "status": "SUBMITTED"})
        names = ("events", "counters", "consumed", "pipelines", "jobs", "files", "catalog")
        for name in (*names, "executions", "nonces"):
            assert store._collection(name).write_concern == WriteConcern(w=1, j=False), name
        assert await store.get_document("jobs", created.uuid, message_ids=["m-1"]) == created
    finally:
        await store.close()
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_backend.url)
        await client.drop_database(database)
        await client.close()


@pytest.mark.mongodb
async def test_mongodb_refuses_integers_beyond_64_bits_as_invalid_input(
    mongodb_backend: MongoBackend,
) -> None:
    database = f"contract_{uuid.uuid4().hex[:16]}"
    store = MongoStore(mongodb_backend.url, database)
    try:
        await store.start()
        with pytest.raises(InvalidInput, match="too large for MongoDB"):
            await store.save_execution({"id": "exec-1", "attempts": 10**30})
        with pytest.raises(InvalidInput, match="too large for MongoDB"):
            await store.create_document("jobs", job(data={"n": -(10**30)}), message_id="m-1")
        assert await store.get_execution("exec-1") is None
    finally:
        await store.close()
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_backend.url)
        await client.drop_database(database)
        await client.close()


@pytest.mark.parametrize(
    ("configured", "journal", "expected"),
    [
        ("majority", True, WriteConcern(w="majority", j=True)),
        ("1", False, WriteConcern(w=1, j=False)),
        (" 2 ", True, WriteConcern(w=2, j=True)),
        (3, True, WriteConcern(w=3, j=True)),
        ("dc-east", True, WriteConcern(w="dc-east", j=True)),
    ],
)
def test_mongodb_write_concern_is_majority_a_number_or_a_tag_set(
    configured: str | int, journal: bool, expected: WriteConcern
) -> None:
    store = MongoStore("mongodb://db.example:27017/", write_concern=configured, journal=journal)
    assert store.write_concern == expected


@pytest.mark.parametrize("configured", ["0", 0, "-1", "", "  "])
def test_mongodb_write_concern_without_acknowledgement_is_refused(configured: str | int) -> None:
    with pytest.raises(InvalidInput, match="majority, a number of members >= 1, or a tag-set"):
        MongoStore("mongodb://db.example:27017/", write_concern=configured)


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
    assert store.write_concern == WriteConcern(w="majority", j=True)


def test_factory_passes_the_write_concern_to_mongodb(tmp_path: Path) -> None:
    store = create_store("mongodb://db.example:27017/", tmp_path, write_concern="2", journal=False)
    assert isinstance(store, MongoStore)
    assert store.write_concern == WriteConcern(w=2, j=False)


@pytest.mark.mongodb
async def test_mongodb_upgrades_documents_with_embedded_history_at_start(
    mongodb_backend: MongoBackend,
) -> None:
    """The layout of release 9a9f763: ``history`` and ``_messages`` inside the document."""
    database = f"contract_{uuid.uuid4().hex[:16]}"
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_backend.url)
    body = job()
    history = [*body.pop("history"), event("run"), event("finish")]
    await client[database]["jobs"].insert_one(
        {
            **body,
            "_id": body["uuid"],
            "history": history,
            "_version": 3,
            "_messages": ["m-1", "m-2", "m-3"],
        }
    )
    store = MongoStore(mongodb_backend.url, database)
    try:
        await store.start()
        await store.start()
        stored = await store.get_document("jobs", body["uuid"], message_ids=["m-2", "m-4"])
        assert stored is not None
        assert (stored.version, stored.message_ids) == (3, frozenset({"m-2"}))
        assert "history" not in stored.body
        records = await store.read_events("jobs", body["uuid"])
        assert [r.event for r in records] == history
        again = await store.append_event(
            "jobs",
            body["uuid"],
            expected_version=2,
            event=event("finish"),
            changes={},
            message_id="m-3",
        )
        assert again.outcome is AppendOutcome.ALREADY_APPLIED
        assert len(await store.read_feed()) == 3
    finally:
        await store.close()
        await client.drop_database(database)
        await client.close()
