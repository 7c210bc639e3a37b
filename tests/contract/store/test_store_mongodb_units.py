"""MongoDB's group commit in bulk (``MongoStore.commit``): what its bulk writes add to the
unit-of-work contract every adapter passes (``test_store_units.py``).

A unit is read once, its positions are taken with one ``$inc``, each run of appends is
inserted with one ordered ``insert_many`` and projected with one version-guarded update per
stream. Here another writer (a second store on its own client, in its own thread) acts at the
unit's crash points, where a concurrent process could: between the unit's read and its insert,
and between its insert and its projection update.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pipelinejobs.errors import StoreUnavailable, VersionConflict
from pipelinejobs.store.mongodb import MongoStore
from pipelinejobs.store.port import (
    AppendEvent,
    AppendOutcome,
    DocumentKind,
    RecordConsumed,
    SettleExecution,
    StoredDocument,
    UnitWrite,
)
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError
from store_backends import MongoBackend
from store_samples import event, job

pytestmark = pytest.mark.mongodb

Another = Callable[[MongoStore], Awaitable[Any]]


class Crash(Exception):
    """A simulated process death at a crash point."""


@pytest.fixture
async def store(mongodb_backend: MongoBackend) -> AsyncIterator[MongoStore]:
    database = f"units_{uuid.uuid4().hex[:16]}"
    adapter = MongoStore(mongodb_backend.url, database, server_selection_timeout_ms=5000)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_backend.url)
        await client.drop_database(database)
        await client.close()


def another_writer(store: MongoStore, action: Another) -> None:
    """Run ``action`` on a second store of the same database, to completion, from a crash
    point (a plain callback): in a thread with its own event loop and client, as another
    process would."""

    async def run() -> None:
        other = MongoStore(store.url, store.database)
        await other.start()
        try:
            await action(other)
        finally:
            await other.close()

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, run()).result()


def at(point: str, then: Callable[[], None]) -> Callable[[str], None]:
    """A fault injector that calls ``then`` the first time a write reaches ``point``."""
    armed = [True]

    def reached(name: str) -> None:
        if name == point and armed[0]:
            armed[0] = False
            then()

    return reached


def crash_at(point: str) -> Callable[[str], None]:
    def crash() -> None:
        raise Crash(point)

    return at(point, crash)


async def created(store: MongoStore, kind: DocumentKind = "jobs") -> StoredDocument:
    body = job() if kind == "jobs" else {**job(), "uuid": f"pipeline-{uuid.uuid4()}"}
    document, _ = await store.create_document(kind, body, message_id=f"create-{body['uuid']}")
    return document


def append(
    document: StoredDocument,
    version: int,
    message_id: str,
    kind: DocumentKind = "jobs",
    **changes: Any,
) -> AppendEvent:
    return AppendEvent(
        kind,
        document.uuid,
        version,
        event("update", step=message_id),
        changes,
        message_id,
        sender="user:alice",
    )


async def racing_append(other: MongoStore, document: StoredDocument, message_id: str) -> None:
    result = await other.append_event(
        "jobs",
        document.uuid,
        expected_version=document.version,
        event=event("update"),
        changes={"state": "RACED"},
        message_id=message_id,
    )
    assert result.outcome is AppendOutcome.APPLIED


async def history(store: MongoStore, document: StoredDocument) -> list[str | None]:
    return [record.message_id for record in await store.read_events("jobs", document.uuid)]


async def one_at_a_time(store: MongoStore, writes: list[UnitWrite]) -> list[AppendOutcome]:
    """What the runtime does after a unit fails: each message decided again on fresh state."""
    outcomes = []
    for write in writes:
        assert isinstance(write, AppendEvent)
        current = await store.get_document(write.kind, write.uuid, message_ids=[write.message_id])
        assert current is not None
        result = await store.append_event(
            write.kind,
            write.uuid,
            expected_version=current.version,
            event=write.event,
            changes=write.changes,
            message_id=write.message_id,
            sender=write.sender,
        )
        outcomes.append(result.outcome)
    return outcomes


async def test_a_unit_across_streams_and_kinds_takes_positions_in_unit_order(
    store: MongoStore,
) -> None:
    first, second = await created(store), await created(store)
    pipeline = await created(store, "pipelines")
    start = (await store.read_feed(limit=1000))[-1].position
    writes: list[UnitWrite] = [
        append(first, 1, "a-2", state="RUNNING"),
        append(pipeline, 1, "p-2", kind="pipelines", state="ACTIVE"),
        RecordConsumed("jobs", second.uuid, "b-noop"),
        append(second, 1, "b-2", state="RUNNING"),
        append(first, 2, "a-3", state="FINISHED", archive_path="/x"),
        RecordConsumed("pipelines", pipeline.uuid, "p-noop"),
        append(second, 2, "b-3", state="FAILED"),
        append(first, 3, "a-4", state="VALIDATED"),
    ]

    await store.commit(writes)

    feed = await store.read_feed(after=start, limit=1000)
    assert [r.message_id for r in feed] == ["a-2", "p-2", "b-2", "a-3", "b-3", "a-4"]
    positions = [r.position for r in feed]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    assert [(r.kind, r.version, r.state) for r in feed] == [
        ("jobs", 2, "RUNNING"),
        ("pipelines", 2, "ACTIVE"),
        ("jobs", 2, "RUNNING"),
        ("jobs", 3, "FINISHED"),
        ("jobs", 3, "FAILED"),
        ("jobs", 4, "VALIDATED"),
    ]
    listed = {d.uuid: d for d in await store.find_documents("jobs")}  # projections as stored
    assert (listed[first.uuid].version, listed[first.uuid].body["state"]) == (4, "VALIDATED")
    assert listed[first.uuid].body["archive_path"] == "/x"
    assert (listed[second.uuid].version, listed[second.uuid].body["state"]) == (3, "FAILED")
    pipelines = await store.find_documents("pipelines")
    assert [(p.version, p.body["state"]) for p in pipelines] == [(2, "ACTIVE")]
    again = await store.get_document("jobs", second.uuid, message_ids=["b-noop", "b-2", "b-3"])
    assert again is not None
    assert again.message_ids == {"b-noop", "b-2", "b-3"}
    assert await store.record_consumed("pipelines", pipeline.uuid, "p-noop") is False


async def test_an_insert_stopped_part_way_leaves_the_events_before_it_durable_and_projected(
    store: MongoStore,
) -> None:
    first, raced, later = await created(store), await created(store), await created(store)
    writes: list[UnitWrite] = [
        append(first, 1, "a-2", state="RUNNING"),
        append(raced, 1, "b-2", state="RUNNING"),
        append(later, 1, "c-2", state="RUNNING"),
        append(first, 2, "a-3", state="FINISHED"),
    ]
    after_unit: list[UnitWrite] = [
        RecordConsumed("jobs", later.uuid, "c-noop"),
        SettleExecution("exec-1", {"status": "COMPLETE"}, {"actor": "jobs-manager"}, ("x",)),
    ]
    store.fault_injector = at(
        "position-allocated",
        lambda: another_writer(store, lambda other: racing_append(other, raced, "b-other")),
    )

    with pytest.raises(VersionConflict, match=raced.uuid):
        await store.commit([*writes, *after_unit])
    store.fault_injector = None

    listed = {d.uuid: d for d in await store.find_documents("jobs")}  # no catch-up on lists
    assert (listed[first.uuid].version, listed[first.uuid].body["state"]) == (2, "RUNNING")
    assert (listed[raced.uuid].version, listed[raced.uuid].body["state"]) == (2, "RACED")
    assert listed[later.uuid].version == 1
    assert await history(store, first) == [f"create-{first.uuid}", "a-2"]
    assert await history(store, raced) == [f"create-{raced.uuid}", "b-other"]
    assert await history(store, later) == [f"create-{later.uuid}"]
    stopped = await store.get_document("jobs", later.uuid, message_ids=["c-noop"])
    assert stopped is not None
    assert stopped.message_ids == frozenset()
    assert await store.get_execution("exec-1") is None

    assert await one_at_a_time(store, writes) == [
        AppendOutcome.ALREADY_APPLIED,
        AppendOutcome.APPLIED,
        AppendOutcome.APPLIED,
        AppendOutcome.APPLIED,
    ]
    assert await history(store, first) == [f"create-{first.uuid}", "a-2", "a-3"]
    assert await history(store, raced) == [f"create-{raced.uuid}", "b-other", "b-2"]


async def test_a_unit_that_crashed_at_any_point_is_applied_once_when_delivered_again(
    store: MongoStore,
) -> None:
    for point in MongoStore.CRASH_POINTS:
        first, second = await created(store), await created(store)
        writes: list[UnitWrite] = [
            append(first, 1, f"{point}-a-2", state="RUNNING"),
            append(second, 1, f"{point}-b-2", state="RUNNING"),
            append(first, 2, f"{point}-a-3", state="FINISHED"),
        ]

        store.fault_injector = crash_at(point)
        with pytest.raises(Crash):
            await store.commit(writes)
        store.fault_injector = None

        nothing_written = point == "position-allocated"
        first_time = AppendOutcome.APPLIED if nothing_written else AppendOutcome.ALREADY_APPLIED
        assert await one_at_a_time(store, writes) == [first_time] * 3, point
        assert await one_at_a_time(store, writes) == [AppendOutcome.ALREADY_APPLIED] * 3, point
        for document, versions in ((first, 3), (second, 2)):
            stored = await store.get_document("jobs", document.uuid)
            assert stored is not None
            assert stored.version == versions == len(await history(store, document)), point
        listed = {d.uuid: d for d in await store.find_documents("jobs")}
        assert listed[first.uuid].body["state"] == "FINISHED", point
        assert listed[second.uuid].body["state"] == "RUNNING", point


async def test_a_unit_catches_up_a_projection_that_lags_behind_its_events(
    store: MongoStore,
) -> None:
    document = await created(store)
    store.fault_injector = crash_at("event-written")
    with pytest.raises(Crash):
        await store.append_event(
            "jobs",
            document.uuid,
            expected_version=1,
            event=event("run"),
            changes={"state": "RUNNING"},
            message_id="m-2",
        )
    store.fault_injector = None
    lagging = await store.find_documents("jobs")
    assert [d.version for d in lagging] == [1]

    with pytest.raises(VersionConflict):  # decided on the lagging projection: stale
        await store.commit([append(document, 1, "m-other", state="OTHER")])
    await store.commit([append(document, 2, "m-3", state="FINISHED")])

    assert await history(store, document) == [f"create-{document.uuid}", "m-2", "m-3"]
    listed = await store.find_documents("jobs")
    assert [(d.version, d.body["state"]) for d in listed] == [(3, "FINISHED")]


async def test_a_reader_catching_up_between_insert_and_projection_changes_nothing(
    store: MongoStore,
) -> None:
    first, second = await created(store), await created(store)

    async def read(other: MongoStore) -> None:
        seen = await other.get_document("jobs", first.uuid)
        assert seen is not None
        assert seen.version == 3

    store.fault_injector = at("event-written", lambda: another_writer(store, read))
    await store.commit(
        [
            append(first, 1, "a-2", state="RUNNING", step=1),
            append(second, 1, "b-2", state="RUNNING"),
            append(first, 2, "a-3", state="FINISHED"),
        ]
    )
    store.fault_injector = None

    listed = {d.uuid: d for d in await store.find_documents("jobs")}
    assert (listed[first.uuid].version, listed[first.uuid].body["state"]) == (3, "FINISHED")
    assert listed[first.uuid].body["step"] == 1
    assert (listed[second.uuid].version, listed[second.uuid].body["state"]) == (2, "RUNNING")


async def test_a_write_concern_failure_is_an_outage_not_a_lost_race(
    store: MongoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The events reached the primary but not a majority in time: the unit fails as the store
    being unavailable (retried), never as a duplicate (re-decided), and its messages are
    recognized when delivered again."""
    first, second = await created(store), await created(store)
    writes: list[UnitWrite] = [
        append(first, 1, "a-2", state="RUNNING"),
        append(second, 1, "b-2", state="RUNNING"),
        RecordConsumed("jobs", second.uuid, "b-noop"),
    ]
    insert_many = AsyncCollection.insert_many

    async def unacknowledged(collection: AsyncCollection[Any], *args: Any, **kwargs: Any) -> Any:
        await insert_many(collection, *args, **kwargs)
        timeout = {"code": 64, "errmsg": "waiting for replication timed out"}
        raise BulkWriteError({"writeErrors": [], "writeConcernErrors": [timeout]})

    monkeypatch.setattr(AsyncCollection, "insert_many", unacknowledged)
    with pytest.raises(StoreUnavailable):
        await store.commit(writes)
    monkeypatch.undo()

    assert await one_at_a_time(store, writes[:2]) == [AppendOutcome.ALREADY_APPLIED] * 2
    assert await store.record_consumed("jobs", second.uuid, "b-noop") is True
