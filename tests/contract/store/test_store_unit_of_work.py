"""The store's unit of work: the writes of a block, committed together.

On every store, the writes inside a unit are visible to later reads in it and after it, and a
concurrent writer of another task still succeeds. On SQLite the block costs one commit
whatever it holds, a block that raises (a crash before the commit) leaves none of its writes,
and a nested unit undoes only its own (MongoDB commits each write on its own; see
``Lifecycle.unit_of_work``).
"""

from __future__ import annotations

import asyncio

import pytest
from pipelinejobs.store.port import Store, StoredDocument
from pipelinejobs.store.sqlite import SQLiteStore
from store_samples import event, job

pytestmark = pytest.mark.asyncio


class Crash(Exception):
    """A simulated process death inside the unit."""


async def append(store: Store, document: StoredDocument, message_id: str) -> StoredDocument:
    result = await store.append_event(
        "jobs",
        document.uuid,
        expected_version=document.version,
        event=event("update"),
        changes={"state": "RUNNING"},
        message_id=message_id,
    )
    return result.document


async def test_writes_in_a_unit_are_read_back_inside_and_after_it(store: Store) -> None:
    created, _ = await store.create_document("jobs", job(), message_id="m-create")
    async with store.unit_of_work():
        document = created
        for n in range(3):
            document = await append(store, document, f"m-{n}")
            reread = await store.get_document("jobs", created.uuid)
            assert reread is not None
            assert reread.version == document.version
    stored = await store.get_document("jobs", created.uuid, message_ids=["m-0", "m-2"])
    assert stored is not None
    assert stored.version == 4
    assert stored.consumed("m-0")
    assert stored.consumed("m-2")


async def test_another_tasks_write_during_a_unit_still_lands(store: Store) -> None:
    first, _ = await store.create_document("jobs", job(), message_id="m-first")
    second, _ = await store.create_document("jobs", job(), message_id="m-second")
    inside = asyncio.Event()

    async def unit() -> None:
        async with store.unit_of_work():
            await append(store, first, "m-a")
            inside.set()
            await asyncio.sleep(0.05)
            await append(store, (await store.get_document("jobs", first.uuid)) or first, "m-b")

    async def other() -> None:
        await inside.wait()
        await append(store, second, "m-c")

    await asyncio.gather(unit(), other())
    for uuid, version in ((first.uuid, 3), (second.uuid, 2)):
        stored = await store.get_document("jobs", uuid)
        assert stored is not None
        assert stored.version == version


@pytest.fixture
def sqlite_store(store: Store) -> SQLiteStore:
    if not isinstance(store, SQLiteStore):
        pytest.skip("commit counting and rollback of a unit are SQLite's (MongoDB: no-op unit)")
    return store


async def test_sqlite_commits_a_unit_once(sqlite_store: SQLiteStore) -> None:
    created, _ = await sqlite_store.create_document("jobs", job(), message_id="m-create")
    points: list[str] = []
    sqlite_store.fault_injector = points.append
    async with sqlite_store.unit_of_work():
        document = created
        for n in range(10):
            document = await append(sqlite_store, document, f"m-{n}")
        await sqlite_store.record_consumed("jobs", created.uuid, "m-nothing")
    sqlite_store.fault_injector = None
    assert points.count("event-written") == 10
    assert points.count("committing") == 1


async def test_sqlite_a_unit_that_raises_leaves_none_of_its_writes(
    sqlite_store: SQLiteStore,
) -> None:
    created, _ = await sqlite_store.create_document("jobs", job(), message_id="m-create")

    async def crashes_before_the_commit() -> None:
        async with sqlite_store.unit_of_work():
            document = await append(sqlite_store, created, "m-0")
            await append(sqlite_store, document, "m-1")
            raise Crash("killed before the commit")

    with pytest.raises(Crash):
        await crashes_before_the_commit()
    stored = await sqlite_store.get_document("jobs", created.uuid, message_ids=["m-0"])
    assert stored is not None
    assert stored.version == 1
    assert not stored.consumed("m-0")
    # The redelivery applies each once.
    async with sqlite_store.unit_of_work():
        document = await append(sqlite_store, stored, "m-0")
        await append(sqlite_store, document, "m-1")
    events = await sqlite_store.read_events("jobs", created.uuid)
    assert [r.message_id for r in events[1:]] == ["m-0", "m-1"]


async def test_sqlite_a_nested_unit_that_raises_undoes_only_its_own_writes(
    sqlite_store: SQLiteStore,
) -> None:
    created, _ = await sqlite_store.create_document("jobs", job(), message_id="m-create")
    async with sqlite_store.unit_of_work():
        document = await append(sqlite_store, created, "m-kept")

        async def refused() -> None:
            async with sqlite_store.unit_of_work():
                await append(sqlite_store, document, "m-undone")
                raise Crash("refused")

        with pytest.raises(Crash):
            await refused()
        await append(sqlite_store, document, "m-after")
    events = await sqlite_store.read_events("jobs", created.uuid)
    assert [r.message_id for r in events[1:]] == ["m-kept", "m-after"]
