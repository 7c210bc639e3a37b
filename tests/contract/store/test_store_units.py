"""Contract of group commit, run on every adapter: ``Store.commit`` (a unit of appends,
no-change records and execution records) and ``DeferredWrites``, the view of the store the
handlers of one batch decide on.

What a unit guarantees differs by adapter, as the port says: on SQLite it is one transaction
(all or nothing); on MongoDB each append or no-change record is its own commit point, in order,
and the unit stops at the first that fails, leaving the ones before it durable.
"""

from __future__ import annotations

from typing import Any

import pytest
from pipelinejobs.errors import InvalidInput, VersionConflict
from pipelinejobs.store.deferred import DeferredWrites, UnitFailed
from pipelinejobs.store.port import (
    AppendEvent,
    AppendOutcome,
    RecordConsumed,
    SettleExecution,
    Store,
    StoredDocument,
)
from pipelinejobs.store.sqlite import SQLiteStore
from store_samples import event, job


def all_or_nothing(store: Store) -> bool:
    """Whether the adapter applies a unit as one transaction (SQLite) or write by write."""
    return isinstance(store, SQLiteStore)


async def created_job(store: Store, message_id: str) -> StoredDocument:
    document, _ = await store.create_document("jobs", job(), message_id=message_id)
    return document


def append(
    document: StoredDocument | str,
    expected_version: int,
    name: str,
    message_id: str,
    **changes: Any,
) -> AppendEvent:
    uuid = document if isinstance(document, str) else document.uuid
    return AppendEvent(
        "jobs", uuid, expected_version, event(name), changes, message_id, sender="user:alice"
    )


async def stored(store: Store, uuid: str, *message_ids: str) -> StoredDocument:
    document = await store.get_document("jobs", uuid, message_ids=message_ids)
    assert document is not None
    return document


async def event_names(store: Store, uuid: str) -> list[tuple[int, str, str | None]]:
    return [
        (record.version, record.event["name"], record.message_id)
        for record in await store.read_events("jobs", uuid)
    ]


def execution(execution_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": execution_id,
        "actor": "jobs-manager",
        "message_id": f"message-of-{execution_id}",
        "sender": "user:alice",
        "status": "SUBMITTED",
        "submitted": "2024-05-01T00:00:00Z",
        "started": None,
        "finished": None,
        "result": None,
        "error": None,
        **fields,
    }


# -- Store.commit ----------------------------------------------------------------------------
async def test_a_unit_applies_appends_no_change_records_and_executions_in_order(
    store: Store,
) -> None:
    one = await created_job(store, "a-1")
    two = await created_job(store, "b-1")
    await store.save_execution(execution("exec-known", status="RUNNING", logs=["line 0"]))
    before = await store.read_feed()

    await store.commit(
        [
            append(one, 1, "run", "a-2", state="RUNNING"),
            SettleExecution("exec-known", {"status": "COMPLETE"}, execution("unused"), ("1",)),
            append(two, 1, "run", "b-2", state="RUNNING"),
            append(one, 2, "finish", "a-3", state="FINISHED"),
            RecordConsumed("jobs", two.uuid, "b-noop"),
            SettleExecution("exec-new", {"status": "ERROR"}, execution("exec-new"), ("x", "y")),
        ]
    )

    first = await stored(store, one.uuid, "a-2", "a-3", "b-2")
    second = await stored(store, two.uuid, "b-2", "b-noop", "a-2")
    assert (first.version, first.body["state"], first.message_ids) == (
        3,
        "FINISHED",
        {"a-2", "a-3"},
    )
    assert (second.version, second.body["state"], second.message_ids) == (
        2,
        "RUNNING",
        {"b-2", "b-noop"},
    )
    assert await event_names(store, one.uuid) == [
        (1, "create", "a-1"),
        (2, "run", "a-2"),
        (3, "finish", "a-3"),
    ]
    assert await event_names(store, two.uuid) == [(1, "create", "b-1"), (2, "run", "b-2")]
    appended = await store.read_feed(after=before[-1].position)
    assert [(r.stream, r.version, r.sender, r.state) for r in appended] == [
        (one.uuid, 2, "user:alice", "RUNNING"),
        (two.uuid, 2, "user:alice", "RUNNING"),
        (one.uuid, 3, "user:alice", "FINISHED"),
    ]
    known = await store.get_execution("exec-known")
    assert known is not None
    assert (known["status"], known["actor"], known["logs"]) == (
        "COMPLETE",
        "jobs-manager",
        ["line 0", "1"],
    )
    new = await store.get_execution("exec-new")
    assert new is not None
    assert (new["id"], new["status"], new["message_id"], new["logs"]) == (
        "exec-new",
        "ERROR",
        "message-of-exec-new",
        ["x", "y"],
    )


async def test_settling_keeps_the_stored_execution_or_inserts_the_new_one(store: Store) -> None:
    await store.save_execution(
        execution("exec-1", status="RUNNING", attempts=2, result={"kept": True}, logs=["a"])
    )
    finished = {"status": "COMPLETE", "finished": "2024-05-01T00:00:05Z", "result": None}

    await store.commit(
        [
            SettleExecution("exec-1", finished, execution("exec-1", actor="other"), ("b", "c")),
            SettleExecution("exec-2", finished, execution("exec-2", attempts=1), ()),
        ]
    )

    kept = await store.get_execution("exec-1")
    assert kept is not None
    assert kept["actor"] == "jobs-manager"  # the stored record's, not ``new``'s
    assert kept["attempts"] == 2
    assert (kept["status"], kept["finished"], kept["result"]) == (
        "COMPLETE",
        "2024-05-01T00:00:05Z",
        None,
    )
    assert kept["logs"] == ["a", "b", "c"]
    inserted = await store.get_execution("exec-2")
    assert inserted is not None
    assert {name: inserted[name] for name in ("id", "actor", "attempts", "status")} == {
        "id": "exec-2",
        "actor": "jobs-manager",
        "attempts": 1,
        "status": "COMPLETE",
    }
    assert (inserted["finished"], inserted["logs"]) == ("2024-05-01T00:00:05Z", [])
    listed = await store.find_executions("jobs-manager")
    assert sorted(each["id"] for each in listed) == ["exec-1", "exec-2"]


async def test_a_settled_execution_inserted_without_an_id_in_new_is_found_under_its_id(
    store: Store,
) -> None:
    """``new`` is the record to insert; the id is the settlement's, whether ``new`` repeats it
    or not (as every other execution, it reads back with its ``id``)."""
    new = {name: value for name, value in execution("unused").items() if name != "id"}

    await store.commit([SettleExecution("exec-1", {"status": "ERROR"}, new, ("refused",))])

    inserted = await store.get_execution("exec-1")
    assert inserted is not None
    assert (inserted["id"], inserted["status"], inserted["logs"]) == (
        "exec-1",
        "ERROR",
        ["refused"],
    )


async def test_an_append_on_a_stale_version_fails_the_unit(store: Store) -> None:
    document = await created_job(store, "m-1")
    await store.append_event(
        "jobs",
        document.uuid,
        expected_version=1,
        event=event("run"),
        changes={"state": "RUNNING"},
        message_id="m-other-writer",
    )

    with pytest.raises(VersionConflict):
        await store.commit([append(document, 1, "run", "m-2", state="RUNNING")])

    after = await stored(store, document.uuid, "m-2")
    assert (after.version, after.message_ids) == (2, frozenset())
    assert [name for _, name, _ in await event_names(store, document.uuid)] == ["create", "run"]


async def test_an_append_of_a_message_consumed_meanwhile_fails_the_unit(store: Store) -> None:
    """The message was applied by another consumer after this one decided: its decision, made
    on the version before, must not be written a second time."""
    document = await created_job(store, "m-1")
    other = await created_job(store, "n-1")
    await store.append_event(
        "jobs",
        document.uuid,
        expected_version=1,
        event=event("run"),
        changes={"state": "RUNNING"},
        message_id="m-2",
    )
    await store.record_consumed("jobs", other.uuid, "n-noop")

    with pytest.raises(VersionConflict):
        await store.commit([append(document, 2, "run", "m-2", state="RUNNING")])
    with pytest.raises(VersionConflict):
        await store.commit([append(other, 1, "update", "n-noop")])

    assert [v for v, _, _ in await event_names(store, document.uuid)] == [1, 2]
    assert [v for v, _, _ in await event_names(store, other.uuid)] == [1]


async def test_a_failing_unit_leaves_what_its_adapter_promises(store: Store) -> None:
    """SQLite: nothing of the unit. MongoDB: the appends and no-change records before the
    failing append are durable (and recognized as consumed when their messages come again),
    nothing from it on, and no execution record (they are written only for a unit that
    applied whole: the messages are applied again, and settled, one at a time)."""
    fresh = await created_job(store, "a-1")
    stale = await created_job(store, "b-1")
    later = await created_job(store, "c-1")
    await store.append_event(
        "jobs",
        stale.uuid,
        expected_version=1,
        event=event("run"),
        changes={"state": "RUNNING"},
        message_id="b-other-writer",
    )
    before = await store.read_feed()

    with pytest.raises(VersionConflict):
        await store.commit(
            [
                append(fresh, 1, "run", "a-2", state="RUNNING"),
                SettleExecution("exec-0", {"status": "COMPLETE"}, execution("exec-0"), ("x",)),
                RecordConsumed("jobs", later.uuid, "c-noop"),
                append(stale, 1, "run", "b-2", state="RUNNING"),
                append(later, 1, "run", "c-2", state="RUNNING"),
                SettleExecution("exec-1", {"status": "COMPLETE"}, execution("exec-1"), ("x",)),
            ]
        )

    first = await stored(store, fresh.uuid, "a-2")
    third = await stored(store, later.uuid, "c-noop", "c-2")
    appended = [(r.stream, r.version) for r in await store.read_feed(after=before[-1].position)]
    if all_or_nothing(store):
        assert (first.version, first.message_ids) == (1, frozenset())
        assert third.message_ids == frozenset()
        assert appended == []
    else:
        assert (first.version, first.message_ids) == (2, {"a-2"})
        assert third.message_ids == {"c-noop"}
        assert appended == [(fresh.uuid, 2)]
    assert third.version == 1
    assert (await stored(store, stale.uuid, "b-2")).version == 2
    assert await store.get_execution("exec-0") is None
    assert await store.get_execution("exec-1") is None


async def test_an_invalid_write_is_refused_before_anything_of_the_unit_is_written(
    store: Store,
) -> None:
    document = await created_job(store, "m-1")

    with pytest.raises(InvalidInput, match="'logs' cannot be set"):
        await store.commit(
            [
                append(document, 1, "run", "m-2", state="RUNNING"),
                SettleExecution("exec-1", {"logs": ["replaced"]}, execution("exec-1"), ()),
            ]
        )

    assert (await stored(store, document.uuid, "m-2")).version == 1
    assert await store.get_execution("exec-1") is None


# -- DeferredWrites --------------------------------------------------------------------------
async def test_reads_in_a_unit_see_its_held_writes_and_the_store_sees_nothing(
    store: Store,
) -> None:
    document = await created_job(store, "m-1")
    feed = await store.read_feed()
    unit = DeferredWrites(store)

    result = await unit.append_event(
        "jobs",
        document.uuid,
        expected_version=1,
        event=event("run"),
        changes={"state": "RUNNING"},
        message_id="m-2",
        sender="user:alice",
    )
    assert await unit.record_consumed("jobs", document.uuid, "m-noop")
    unit.settle_execution(SettleExecution("exec-1", {}, execution("exec-1"), ("held",)))

    assert result.outcome is AppendOutcome.APPLIED
    assert (result.document.version, result.document.body["state"]) == (2, "RUNNING")
    seen = await unit.get_document("jobs", document.uuid, message_ids=["m-1", "m-2", "m-3"])
    assert seen is not None
    assert (seen.version, seen.body["state"], seen.message_ids) == (
        2,
        "RUNNING",
        {"m-1", "m-2"},
    )
    noop = await unit.get_document("jobs", document.uuid, message_ids=["m-noop"])
    assert noop is not None
    assert noop.consumed("m-noop")
    assert unit.held == 3
    untouched = await stored(store, document.uuid, "m-2", "m-noop")
    assert (untouched.version, untouched.body["state"], untouched.message_ids) == (
        1,
        "CREATED",
        frozenset(),
    )
    assert await store.read_feed() == feed
    assert await store.get_execution("exec-1") is None

    await unit.commit()

    assert unit.held == 0
    committed = await stored(store, document.uuid, "m-2", "m-noop")
    assert (committed.version, committed.body["state"], committed.message_ids) == (
        2,
        "RUNNING",
        {"m-2", "m-noop"},
    )
    assert await event_names(store, document.uuid) == [(1, "create", "m-1"), (2, "run", "m-2")]
    settled = await store.get_execution("exec-1")
    assert settled is not None
    assert settled["logs"] == ["held"]


async def test_a_consumed_id_held_before_any_append_is_seen_by_reads(store: Store) -> None:
    """A no-change record alone in its stream (a forwarded message): a second delivery of the
    same message in the batch must find it consumed."""
    document = await created_job(store, "m-1")
    unit = DeferredWrites(store)

    assert await unit.record_consumed("jobs", document.uuid, "m-noop")

    seen = await unit.get_document("jobs", document.uuid, message_ids=["m-noop"])
    assert seen is not None
    assert seen.consumed("m-noop")
    assert seen.version == 1
    again = await unit.append_event(
        "jobs",
        document.uuid,
        expected_version=1,
        event=event("run"),
        changes={"state": "RUNNING"},
        message_id="m-noop",
    )
    assert again.outcome is AppendOutcome.ALREADY_APPLIED
    await unit.commit()
    assert [v for v, _, _ in await event_names(store, document.uuid)] == [1]


async def test_a_second_append_in_a_unit_is_decided_on_the_first(store: Store) -> None:
    document = await created_job(store, "m-1")
    unit = DeferredWrites(store)

    async def run(expected_version: int, message_id: str, state: str) -> Any:
        return await unit.append_event(
            "jobs",
            document.uuid,
            expected_version=expected_version,
            event=event(state.lower()),
            changes={"state": state},
            message_id=message_id,
        )

    first = await run(1, "m-2", "RUNNING")
    with pytest.raises(VersionConflict):
        await run(1, "m-3", "FINISHED")  # decided on the stored version, not the held one
    second = await run(2, "m-3", "FINISHED")
    again = await run(2, "m-2", "RUNNING")  # the first message, delivered once more
    redelivered = await run(1, "m-1", "RUNNING")  # a message the store consumed before

    assert (first.document.version, second.document.version) == (2, 3)
    assert second.document.body["state"] == "FINISHED"
    assert again.outcome is AppendOutcome.ALREADY_APPLIED
    assert redelivered.outcome is AppendOutcome.ALREADY_APPLIED
    assert again.document.version == redelivered.document.version == 3
    await unit.commit()
    assert await event_names(store, document.uuid) == [
        (1, "create", "m-1"),
        (2, "running", "m-2"),
        (3, "finished", "m-3"),
    ]


async def test_record_consumed_in_a_unit_answers_false_for_a_held_or_stored_id(
    store: Store,
) -> None:
    document = await created_job(store, "m-1")
    await store.record_consumed("jobs", document.uuid, "m-stored")
    unit = DeferredWrites(store)

    assert await unit.record_consumed("jobs", document.uuid, "m-noop")
    assert not await unit.record_consumed("jobs", document.uuid, "m-noop")
    assert not await unit.record_consumed("jobs", document.uuid, "m-stored")
    assert not await unit.record_consumed("jobs", document.uuid, "m-1")
    await unit.append_event(
        "jobs",
        document.uuid,
        expected_version=1,
        event=event("run"),
        changes={"state": "RUNNING"},
        message_id="m-2",
    )
    assert not await unit.record_consumed("jobs", document.uuid, "m-2")
    assert unit.held == 2
    assert not (await stored(store, document.uuid, "m-noop")).consumed("m-noop")

    await unit.commit()

    assert (await stored(store, document.uuid, "m-noop", "m-2")).message_ids == {
        "m-noop",
        "m-2",
    }


async def test_any_other_operation_in_a_unit_first_commits_what_is_held(store: Store) -> None:
    document = await created_job(store, "m-1")
    unit = DeferredWrites(store)
    await unit.append_event(
        "jobs",
        document.uuid,
        expected_version=1,
        event=event("run"),
        changes={"state": "RUNNING"},
        message_id="m-2",
    )
    unit.settle_execution(SettleExecution("exec-1", {"status": "COMPLETE"}, execution("exec-1")))

    history = await unit.read_events("jobs", document.uuid)

    assert [(r.version, r.message_id) for r in history] == [(1, "m-1"), (2, "m-2")]
    assert unit.held == 0
    assert (await stored(store, document.uuid)).version == 2
    settled = await unit.get_execution("exec-1")
    assert settled is not None
    assert settled["status"] == "COMPLETE"

    await unit.append_event(
        "jobs",
        document.uuid,
        expected_version=2,
        event=event("finish"),
        changes={"state": "FINISHED"},
        message_id="m-3",
    )
    unit.settle_execution(SettleExecution("exec-2", {"status": "COMPLETE"}, execution("exec-2")))
    execution_2 = await unit.get_execution("exec-2")
    assert execution_2 is not None
    assert (await stored(store, document.uuid)).version == 3
    await unit.commit()  # nothing left to write
    assert [v for v, _, _ in await event_names(store, document.uuid)] == [1, 2, 3]


async def test_a_unit_decided_on_stale_state_fails_its_commit_and_every_later_one(
    store: Store,
) -> None:
    """Another process wrote a stream after the unit read it: the commit raises, and so does
    every later commit of the unit (its dropped decisions must not be taken as applied);
    deciding again on fresh state, in a new unit, succeeds."""
    fresh = await created_job(store, "a-1")
    raced = await created_job(store, "b-1")
    unit = DeferredWrites(store)
    for document, message_id in ((fresh, "a-2"), (raced, "b-2")):
        await unit.append_event(
            "jobs",
            document.uuid,
            expected_version=1,
            event=event("run"),
            changes={"state": "RUNNING"},
            message_id=message_id,
        )
    unit.settle_execution(SettleExecution("exec-1", {"status": "COMPLETE"}, execution("exec-1")))
    await store.append_event(
        "jobs",
        raced.uuid,
        expected_version=1,
        event=event("update"),
        changes={},
        message_id="b-other-writer",
    )

    with pytest.raises(VersionConflict):
        await unit.commit()
    unit.settle_execution(SettleExecution("exec-2", {"status": "COMPLETE"}, execution("exec-2")))
    with pytest.raises(UnitFailed, match="earlier commit of this batch failed"):
        await unit.commit()

    first = await stored(store, fresh.uuid, "a-2")
    assert first.consumed("a-2") is not all_or_nothing(store)
    assert [r.message_id for r in await store.read_events("jobs", raced.uuid)] == [
        "b-1",
        "b-other-writer",
    ]
    assert await store.get_execution("exec-1") is None
    assert await store.get_execution("exec-2") is None
    again = DeferredWrites(store)
    current = await again.get_document("jobs", raced.uuid, message_ids=["b-2"])
    assert current is not None
    await again.append_event(
        "jobs",
        raced.uuid,
        expected_version=current.version,
        event=event("run"),
        changes={"state": "RUNNING"},
        message_id="b-2",
    )
    await again.commit()
    assert [r.message_id for r in await store.read_events("jobs", raced.uuid)] == [
        "b-1",
        "b-other-writer",
        "b-2",
    ]


async def test_a_failed_commit_for_another_operation_fails_the_units_own_commit(
    store: Store,
) -> None:
    """A handler's other operation commits what the messages before it decided, and that
    commit lost a race: those decisions are dropped, so nothing the unit holds or is asked to
    do afterwards is written (it would come before them when their messages are applied
    again), and its own commit fails too."""
    raced = await created_job(store, "a-1")
    later = await created_job(store, "b-1")
    unit = DeferredWrites(store)
    await unit.append_event(
        "jobs",
        raced.uuid,
        expected_version=1,
        event=event("run"),
        changes={"state": "RUNNING"},
        message_id="a-2",
    )
    await store.append_event(
        "jobs",
        raced.uuid,
        expected_version=1,
        event=event("update"),
        changes={},
        message_id="a-other-writer",
    )

    with pytest.raises(VersionConflict):
        await unit.read_events("jobs", raced.uuid)
    await unit.append_event(
        "jobs",
        later.uuid,
        expected_version=1,
        event=event("run"),
        changes={"state": "RUNNING"},
        message_id="b-2",
    )
    with pytest.raises(UnitFailed, match="earlier commit of this batch failed"):
        await unit.save_execution(execution("exec-1"))
    with pytest.raises(UnitFailed, match="earlier commit of this batch failed"):
        await unit.commit()

    assert [r.message_id for r in await store.read_events("jobs", raced.uuid)] == [
        "a-1",
        "a-other-writer",
    ]
    assert (await stored(store, later.uuid, "b-2")).version == 1
    assert await store.get_execution("exec-1") is None
