"""Contract of the event log role, run on every adapter: event records, redelivery recorded
for ever, pagination, the global feed (order, filters, resumption), crash points."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pipelinejobs.errors import Conflict, InvalidInput
from pipelinejobs.store.port import AppendOutcome, FeedFilter, Store, StoredDocument
from store_samples import event, job, new_id


class Crash(Exception):
    """A simulated process death at a crash point."""


async def run(store: Store, document: StoredDocument, message_id: str, **changes: Any) -> Any:
    return await store.append_event(
        "jobs",
        document.uuid,
        expected_version=document.version,
        event=event("run"),
        changes={"state": "RUNNING", **changes},
        message_id=message_id,
        sender="user:alice",
    )


async def test_each_event_is_one_record_with_its_stream_version_message_and_sender(
    store: Store,
) -> None:
    body = job(pipeline_uuid="pipeline-a")
    created, _ = await store.create_document("jobs", body, message_id="m-1", sender="user:bob")
    await run(store, created, "m-2")
    first, second = await store.read_events("jobs", created.uuid)
    assert (first.stream, first.version, first.message_id, first.sender) == (
        created.uuid,
        1,
        "m-1",
        "user:bob",
    )
    assert (second.version, second.message_id, second.sender, second.state) == (
        2,
        "m-2",
        "user:alice",
        "RUNNING",
    )
    assert second.pipeline_uuid == "pipeline-a"
    assert set(second.event) == {"uuid", "name", "date", "data"}
    assert second.position > first.position
    found = await store.find_event("jobs", created.uuid, message_id="m-2")
    assert found == second
    assert await store.find_event("jobs", created.uuid, message_id="m-9") is None


async def test_a_redelivery_is_recognized_however_many_events_came_after(store: Store) -> None:
    document, _ = await store.create_document("jobs", job(), message_id="m-0")
    for number in range(1, 1201):
        result = await store.append_event(
            "jobs",
            document.uuid,
            expected_version=document.version,
            event=event("update", n=number),
            changes={},
            message_id=f"m-{number}",
        )
        document = result.document
    again = await store.append_event(
        "jobs",
        document.uuid,
        expected_version=3,
        event=event("update"),
        changes={},
        message_id="m-3",
    )
    assert again.outcome is AppendOutcome.ALREADY_APPLIED
    assert again.document.version == 1201


async def test_a_message_that_changed_nothing_is_recorded_as_consumed(store: Store) -> None:
    created, _ = await store.create_document("jobs", job(), message_id="m-1")
    assert await store.record_consumed("jobs", created.uuid, "m-noop")
    assert not await store.record_consumed("jobs", created.uuid, "m-noop")
    assert not await store.record_consumed("jobs", created.uuid, "m-1")
    stored = await store.get_document("jobs", created.uuid, message_ids=["m-noop", "m-other"])
    assert stored is not None
    assert stored.message_ids == {"m-noop"}
    assert stored.version == 1
    again = await run(store, created, "m-noop")
    assert again.outcome is AppendOutcome.ALREADY_APPLIED
    assert len(await store.read_events("jobs", created.uuid)) == 1


async def test_history_pages_by_version(store: Store) -> None:
    document, _ = await store.create_document("jobs", job(), message_id="m-0")
    for number in range(1, 10):
        result = await store.append_event(
            "jobs",
            document.uuid,
            expected_version=document.version,
            event=event("update", n=number),
            changes={},
            message_id=f"m-{number}",
        )
        document = result.document
    pages = []
    after = 0
    while True:
        page = await store.read_events("jobs", document.uuid, after=after, limit=4)
        if not page:
            break
        pages.append([record.version for record in page])
        after = page[-1].version
    assert pages == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert await store.read_events("pipelines", document.uuid) == []
    with pytest.raises(InvalidInput, match="limit"):
        await store.read_events("jobs", document.uuid, limit=0)
    with pytest.raises(InvalidInput, match="after"):
        await store.read_events("jobs", document.uuid, after=-1)


async def test_the_feed_holds_every_event_in_commit_order_and_resumes(store: Store) -> None:
    one, _ = await store.create_document("jobs", job(), message_id="a-1")
    two, _ = await store.create_document("jobs", job(), message_id="b-1")
    one = (await run(store, one, "a-2")).document
    await run(store, two, "b-2")
    await store.append_event(
        "jobs",
        one.uuid,
        expected_version=2,
        event=event("finish"),
        changes={"state": "FINISHED"},
        message_id="a-3",
    )
    everything = await store.read_feed()
    assert [(r.stream, r.version) for r in everything] == [
        (one.uuid, 1),
        (two.uuid, 1),
        (one.uuid, 2),
        (two.uuid, 2),
        (one.uuid, 3),
    ]
    positions = [r.position for r in everything]
    assert positions == sorted(positions)
    first_page = await store.read_feed(limit=2)
    rest = await store.read_feed(after=first_page[-1].position, limit=100)
    assert first_page + rest == everything
    assert await store.read_feed(after=everything[-1].position) == []
    late, _ = await store.create_document("jobs", job(), message_id="c-1")
    resumed = await store.read_feed(after=everything[-1].position)
    assert [(r.stream, r.version) for r in resumed] == [(late.uuid, 1)]


async def test_the_feed_filters_on_job_pipeline_name_and_state(store: Store) -> None:
    mine, _ = await store.create_document("jobs", job(pipeline_uuid="p-1"), message_id="a-1")
    other, _ = await store.create_document("jobs", job(pipeline_uuid="p-2"), message_id="b-1")
    pipeline, _ = await store.create_document(
        "pipelines",
        {"uuid": "p-1", "state": "ACTIVE", "history": [event("create")]},
        message_id="p-1",
    )
    await run(store, mine, "a-2")
    await run(store, other, "b-2")

    async def streams(filters: FeedFilter) -> list[tuple[str, int]]:
        return [(r.stream, r.version) for r in await store.read_feed(filters=filters)]

    assert await streams(FeedFilter(job=mine.uuid)) == [(mine.uuid, 1), (mine.uuid, 2)]
    assert await streams(FeedFilter(pipeline="p-1")) == [
        (mine.uuid, 1),
        ("p-1", 1),
        (mine.uuid, 2),
    ]
    assert await streams(FeedFilter(name="run")) == [(mine.uuid, 2), (other.uuid, 2)]
    assert await streams(FeedFilter(name="run", pipeline="p-2")) == [(other.uuid, 2)]
    assert await streams(FeedFilter(state="RUNNING")) == [(mine.uuid, 2), (other.uuid, 2)]
    assert await streams(FeedFilter(state="ACTIVE")) == [("p-1", 1)]
    assert pipeline.version == 1


async def test_a_creation_with_several_events_numbers_them(store: Store) -> None:
    body = {**job(), "history": [event("create"), event("run"), event("finish")]}
    created, _ = await store.create_document("jobs", body, message_id="m-1")
    assert created.version == 3
    records = await store.read_events("jobs", created.uuid)
    assert [(r.version, r.event["name"]) for r in records] == [
        (1, "create"),
        (2, "run"),
        (3, "finish"),
    ]


@pytest.mark.parametrize("operation", ["create", "append"])
async def test_a_crash_at_any_point_loses_nothing_and_doubles_nothing(
    store: Store, operation: str
) -> None:
    points: tuple[str, ...] = store.CRASH_POINTS  # type: ignore[attr-defined]
    assert points
    for point in points:
        body = job()

        def crash_at(reached: str, point: str = point) -> None:
            if reached == point:
                raise Crash(point)

        async def deliver(body: dict[str, Any] = body) -> None:
            if operation == "create":
                await store.create_document("jobs", body, message_id="m-create")
                return
            stored = await store.get_document("jobs", body["uuid"])
            assert stored is not None
            await store.append_event(
                "jobs",
                body["uuid"],
                expected_version=stored.version,
                event=event("run"),
                changes={"state": "RUNNING"},
                message_id="m-run",
            )

        if operation == "append":
            await store.create_document("jobs", body, message_id="m-create")
        store.fault_injector = crash_at  # type: ignore[attr-defined]
        with pytest.raises(Crash):
            await deliver()
        store.fault_injector = None  # type: ignore[attr-defined]
        await deliver()  # the redelivery after the restart
        await deliver()  # and once more
        stored = await store.get_document("jobs", body["uuid"], message_ids=["m-run"])
        assert stored is not None, point
        records = await store.read_events("jobs", body["uuid"])
        expected = ["create"] if operation == "create" else ["create", "run"]
        assert [r.event["name"] for r in records] == expected, point
        assert stored.version == len(expected), point
        assert stored.body["state"] == ("CREATED" if operation == "create" else "RUNNING"), point
        assert stored.consumed("m-run") is (operation == "append"), point
        listed = await store.find_documents("jobs", {"uuid": body["uuid"]})
        assert [d.version for d in listed] == [len(expected)], point


async def test_a_catalog_load_is_all_or_nothing(store: Store) -> None:
    taken = {"uuid": new_id(), "id": "sample.tacc.taken", "type": "sample", "child_of": []}
    await store.put_catalog_records([taken])
    fresh = {"uuid": new_id(), "id": "sample.tacc.fresh", "type": "sample", "child_of": []}
    clash = {"uuid": new_id(), "id": "sample.tacc.taken", "type": "sample", "child_of": []}
    with pytest.raises(Conflict, match=r"sample\.tacc\.taken"):
        await store.put_catalog_records([fresh, clash])
    assert await store.get_catalog_record("sample.tacc.fresh") is None
    assert await store.get_catalog_record("sample.tacc.taken") == taken


async def test_concurrent_writers_commit_together_and_a_failing_one_fails_alone(
    store: Store,
) -> None:
    jobs = [(await store.create_document("jobs", job(), message_id=f"c-{n}"))[0] for n in range(30)]
    armed = [True]

    def crash_once(point: str) -> None:
        if point == "event-written" and armed[0]:
            armed[0] = False
            raise Crash(point)

    store.fault_injector = crash_once  # type: ignore[attr-defined]
    try:
        outcomes = await asyncio.gather(
            *(run(store, document, f"r-{document.uuid}") for document in jobs),
            return_exceptions=True,
        )
    finally:
        store.fault_injector = None  # type: ignore[attr-defined]
    crashed = [n for n, outcome in enumerate(outcomes) if isinstance(outcome, Crash)]
    assert len(crashed) == 1
    for n, document in enumerate(jobs):
        stored = await store.get_document("jobs", document.uuid)
        assert stored is not None
        assert len(await store.read_events("jobs", document.uuid)) == stored.version
        if n not in crashed:
            assert outcomes[n].outcome is AppendOutcome.APPLIED  # type: ignore[union-attr]
            assert stored.version == 2
