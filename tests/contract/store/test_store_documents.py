"""Contract of the event log role: pipelines and jobs as streams of events with projections
(create, conditional append, redelivery, lost races, queries)."""

from __future__ import annotations

import asyncio

import pytest
from pipelinejobs.errors import InvalidInput, NotFound, VersionConflict
from pipelinejobs.store.port import AppendOutcome, AppendResult, Store, StoredDocument
from store_samples import event, job, new_id

PRIVATE = {"_id", "_version", "_messages"}


async def names(store: Store, uuid: str) -> list[str]:
    return [record.event["name"] for record in await store.read_events("jobs", uuid, limit=1000)]


async def append(
    store: Store, document: StoredDocument, name: str, message_id: str, **changes: str
) -> AppendResult:
    return await store.append_event(
        "jobs",
        document.uuid,
        expected_version=document.version,
        event=event(name),
        changes=changes,
        message_id=message_id,
    )


# -- creation ------------------------------------------------------------------------------
async def test_create_stores_the_body_at_version_one(store: Store) -> None:
    body = job()
    created, inserted = await store.create_document("jobs", body, message_id="m-create")
    assert inserted
    projection = {key: value for key, value in body.items() if key != "history"}
    assert (created.uuid, created.version, created.body) == (body["uuid"], 1, projection)
    assert created.consumed("m-create")
    assert await store.get_document("jobs", body["uuid"], message_ids=["m-create"]) == created
    [first] = await store.read_events("jobs", body["uuid"])
    assert (first.version, first.event, first.message_id) == (1, body["history"][0], "m-create")


async def test_duplicate_creation_returns_the_existing_document(store: Store) -> None:
    body = job()
    first, _ = await store.create_document("jobs", body, message_id="m-1")
    redelivered, inserted_again = await store.create_document("jobs", body, message_id="m-1")
    first = StoredDocument(first.uuid, first.version, first.body)
    other = {**body, "state": "RUNNING"}
    someone_else, inserted_by_other = await store.create_document("jobs", other, message_id="m-2")
    assert not inserted_again
    assert not inserted_by_other
    assert redelivered.consumed("m-1")
    assert not someone_else.consumed("m-2")
    assert (redelivered.version, redelivered.body) == (first.version, first.body)
    assert (someone_else.version, someone_else.body) == (first.version, first.body)
    assert (await store.get_document("jobs", body["uuid"])) == first
    assert await names(store, body["uuid"]) == ["create"]


async def test_pipelines_and_jobs_are_separate_collections(store: Store) -> None:
    body = job()
    await store.create_document("pipelines", body, message_id="m-1")
    assert await store.get_document("jobs", body["uuid"]) is None
    assert await store.get_document("pipelines", body["uuid"]) is not None


async def test_unknown_document_reads_as_none(store: Store) -> None:
    assert await store.get_document("jobs", new_id()) is None


async def test_body_without_history_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="history"):
        await store.create_document("jobs", {"uuid": new_id()}, message_id="m")


async def test_body_with_a_private_field_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="_version"):
        await store.create_document("jobs", {**job(), "_version": 7}, message_id="m")


# -- conditional append --------------------------------------------------------------------
async def test_append_adds_the_event_sets_changes_and_bumps_the_version(store: Store) -> None:
    created, _ = await store.create_document("jobs", job(), message_id="m-1")
    run = event("run", status="RUNNING")
    result = await store.append_event(
        "jobs",
        created.uuid,
        expected_version=1,
        event=run,
        changes={"state": "RUNNING", "updated": "2024-05-02T00:00:00Z"},
        message_id="m-2",
    )
    assert result.outcome is AppendOutcome.APPLIED
    assert result.document.version == 2
    assert result.document.body["state"] == "RUNNING"
    assert "history" not in result.document.body
    assert [r.event for r in await store.read_events("jobs", created.uuid)][1:] == [run]
    assert result.document.consumed("m-2")
    stored = await store.get_document("jobs", created.uuid, message_ids=["m-1", "m-2", "m-3"])
    assert stored == StoredDocument(
        created.uuid, 2, result.document.body, frozenset({"m-1", "m-2"})
    )


async def test_history_keeps_events_in_append_order(store: Store) -> None:
    document, _ = await store.create_document("jobs", job(), message_id="m-0")
    for number, name in enumerate(["run", "update", "finish"], start=1):
        document = (await append(store, document, name, f"m-{number}")).document
    assert await names(store, document.uuid) == ["create", "run", "update", "finish"]
    assert [r.version for r in await store.read_events("jobs", document.uuid)] == [1, 2, 3, 4]
    assert document.version == 4


async def test_append_with_a_stale_version_is_a_version_conflict(store: Store) -> None:
    created, _ = await store.create_document("jobs", job(), message_id="m-1")
    await append(store, created, "run", "m-2", state="RUNNING")
    with pytest.raises(VersionConflict, match="version 2"):
        await append(store, created, "fail", "m-3", state="FAILED")
    stored = await store.get_document("jobs", created.uuid)
    assert stored is not None
    assert (stored.version, stored.body["state"]) == (2, "RUNNING")
    assert not stored.consumed("m-3")


async def test_redelivered_message_is_already_applied_and_writes_nothing(store: Store) -> None:
    created, _ = await store.create_document("jobs", job(), message_id="m-1")
    first = await append(store, created, "run", "m-2", state="RUNNING")
    again = await append(store, created, "run", "m-2", state="RUNNING")
    assert again.outcome is AppendOutcome.ALREADY_APPLIED
    assert (again.document.version, again.document.body) == (2, first.document.body)
    stored = await store.get_document("jobs", created.uuid)
    assert stored is not None
    assert stored.version == 2
    assert await names(store, created.uuid) == ["create", "run"]


async def test_redelivered_creation_message_is_already_applied(store: Store) -> None:
    created, _ = await store.create_document("jobs", job(), message_id="m-1")
    result = await append(store, created, "run", "m-1")
    assert result.outcome is AppendOutcome.ALREADY_APPLIED
    assert result.document.version == 1


async def test_a_message_id_is_consumed_per_document(store: Store) -> None:
    one, _ = await store.create_document("jobs", job(), message_id="m-a")
    two, _ = await store.create_document("jobs", job(), message_id="m-b")
    assert (await append(store, one, "run", "m-shared")).outcome is AppendOutcome.APPLIED
    assert (await append(store, two, "run", "m-shared")).outcome is AppendOutcome.APPLIED


async def test_append_to_an_unknown_document_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="job"):
        await store.append_event(
            "jobs", new_id(), expected_version=1, event=event("run"), changes={}, message_id="m"
        )


async def test_changes_cannot_replace_history_or_uuid(store: Store) -> None:
    created, _ = await store.create_document("jobs", job(), message_id="m-1")
    for field in ("history", "uuid", "_messages"):
        with pytest.raises(InvalidInput, match=field):
            await append(store, created, "run", "m-2", **{field: "x"})


async def test_bodies_hold_only_public_fields(store: Store) -> None:
    body = job()
    created, _ = await store.create_document("jobs", body, message_id="m-1")
    applied = await append(store, created, "run", "m-2", state="RUNNING")
    loaded = await store.get_document("jobs", created.uuid)
    listed = await store.find_documents("jobs")
    assert loaded is not None
    for document in (created, applied.document, loaded, *listed):
        assert set(document.body) == set(body) - {"history"}
        assert not PRIVATE & set(document.body)


async def test_concurrent_appenders_each_land_exactly_once(store: Store) -> None:
    created, _ = await store.create_document("jobs", job(), message_id="m-create")
    writers = 20

    async def appender(number: int) -> None:
        while True:
            current = await store.get_document("jobs", created.uuid)
            assert current is not None
            try:
                await append(store, current, f"event-{number}", f"m-{number}")
                return
            except VersionConflict:
                await asyncio.sleep(0)

    await asyncio.gather(*(appender(number) for number in range(writers)))
    ids = [f"m-{number}" for number in range(writers)]
    final = await store.get_document("jobs", created.uuid, message_ids=ids)
    assert final is not None
    assert final.version == 1 + writers
    appended = (await names(store, created.uuid))[1:]
    assert sorted(appended) == sorted(f"event-{number}" for number in range(writers))
    assert all(final.consumed(message_id) for message_id in ids)


async def test_concurrent_deliveries_of_one_message_apply_it_once(store: Store) -> None:
    created, _ = await store.create_document("jobs", job(), message_id="m-create")

    async def deliver() -> AppendOutcome:
        while True:
            current = await store.get_document("jobs", created.uuid)
            assert current is not None
            try:
                return (await append(store, current, "run", "m-run")).outcome
            except VersionConflict:
                await asyncio.sleep(0)

    outcomes = await asyncio.gather(*(deliver() for _ in range(10)))
    assert outcomes.count(AppendOutcome.APPLIED) == 1
    assert outcomes.count(AppendOutcome.ALREADY_APPLIED) == 9
    final = await store.get_document("jobs", created.uuid)
    assert final is not None
    assert final.version == 2


# -- queries -------------------------------------------------------------------------------
async def test_find_filters_on_state_and_pipeline(store: Store) -> None:
    wanted = job(state="RUNNING", pipeline_uuid="pipeline-a")
    for body in (wanted, job(state="RUNNING"), job(pipeline_uuid="pipeline-a"), job()):
        await store.create_document("jobs", body, message_id=new_id())
    found = await store.find_documents("jobs", {"state": "RUNNING", "pipeline_uuid": "pipeline-a"})
    assert [document.uuid for document in found] == [wanted["uuid"]]
    assert await store.count_documents("jobs", {"state": "RUNNING"}) == 2
    assert await store.count_documents("jobs", {"pipeline_uuid": "pipeline-a"}) == 2
    assert await store.count_documents("jobs") == 4
    assert await store.count_documents("jobs", {"state": "FINISHED"}) == 0


async def test_find_filters_on_any_top_level_field(store: Store) -> None:
    wanted = job(session="casual-bass")
    await store.create_document("jobs", wanted, message_id="m-1")
    await store.create_document("jobs", job(session="eligible-awk"), message_id="m-2")
    found = await store.find_documents("jobs", {"session": "casual-bass"})
    assert [document.uuid for document in found] == [wanted["uuid"]]


async def test_find_sees_appended_changes(store: Store) -> None:
    created, _ = await store.create_document("jobs", job(), message_id="m-1")
    await append(store, created, "run", "m-2", state="RUNNING")
    assert [d.uuid for d in await store.find_documents("jobs", {"state": "RUNNING"})] == [
        created.uuid
    ]
    assert await store.find_documents("jobs", {"state": "CREATED"}) == []


async def test_find_pages_newest_updated_first_then_by_uuid(store: Store) -> None:
    days = ["2024-05-03", "2024-05-01", "2024-05-05", "2024-05-02", "2024-05-05", "2024-05-04"]
    bodies = [job(updated=f"{day}T00:00:00Z") for day in days]
    for body in bodies:
        await store.create_document("jobs", body, message_id=new_id())
    expected = [
        b["uuid"] for b in sorted(bodies, key=lambda b: (-int(b["updated"][8:10]), b["uuid"]))
    ]
    pages = [
        await store.find_documents("jobs", limit=4, offset=0),
        await store.find_documents("jobs", limit=4, offset=4),
        await store.find_documents("jobs", limit=4, offset=8),
    ]
    assert [[d.uuid for d in page] for page in pages] == [expected[:4], expected[4:], []]
    assert all(page_doc.version == 1 for page_doc in pages[0])


async def test_a_read_tells_which_of_the_asked_message_ids_were_consumed(store: Store) -> None:
    created, _ = await store.create_document("jobs", job(), message_id="m-1")
    await append(store, created, "run", "m-2")
    asked = await store.get_document("jobs", created.uuid, message_ids=["m-2", "m-3"])
    assert asked is not None
    assert asked.message_ids == {"m-2"}
    [found] = await store.find_documents("jobs")
    assert found.message_ids == frozenset()


@pytest.mark.parametrize(
    ("filters", "limit", "offset", "problem"),
    [
        ({"data.inputs": "x"}, 10, 0, "field name"),
        ({"state": 3}, 10, 0, "must be a string"),
        (None, 0, 0, "limit"),
        (None, 10, -1, "offset"),
    ],
)
async def test_malformed_queries_are_refused(
    store: Store, filters: dict[str, str] | None, limit: int, offset: int, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        await store.find_documents("jobs", filters, limit=limit, offset=offset)
