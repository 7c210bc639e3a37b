"""Contract: file records, catalog records and executions."""

from __future__ import annotations

import pytest
from pipelinejobs.domain.executions import not_accepted
from pipelinejobs.errors import Conflict, InvalidInput, NotFound
from pipelinejobs.store.port import JSON, Store
from store_samples import new_id


def file_record(name: str, *jobs: str, **fields: object) -> JSON:
    return {
        "uuid": new_id("file-"),
        "name": name,
        "level": "1",
        "generated_by": list(jobs),
        **fields,
    }


def catalog_record(text_id: str, record_type: str, *parents: str) -> JSON:
    return {"uuid": new_id("cat-"), "id": text_id, "type": record_type, "child_of": list(parents)}


# -- files ---------------------------------------------------------------------------------
async def test_upsert_file_inserts_then_merges(store: Store) -> None:
    record = file_record("/products/v2/out.csv", "job-1")
    assert await store.upsert_file(record) is True
    again = {**record, "level": "2", "generated_by": ["job-2", "job-1"]}
    assert await store.upsert_file(again) is False
    [stored] = await store.find_files()
    assert stored == {**record, "level": "2", "generated_by": ["job-1", "job-2"]}


async def test_get_file_reads_one_record_by_uuid(store: Store) -> None:
    record = file_record("/products/v2/one.csv", "job-1")
    assert await store.get_file(record["uuid"]) is None
    await store.upsert_file(record)
    assert await store.get_file(record["uuid"]) == record


async def test_indexing_a_job_twice_links_each_file_once(store: Store) -> None:
    record = file_record("/a.txt", "job-1")
    await store.upsert_file(record)
    await store.upsert_file(record)
    [stored] = await store.find_files(generated_by="job-1")
    assert stored["generated_by"] == ["job-1"]


async def test_upsert_without_links_keeps_the_existing_ones(store: Store) -> None:
    record = file_record("/a.txt", "job-1")
    await store.upsert_file(record)
    await store.upsert_file({"uuid": record["uuid"], "name": "/a.txt", "level": "3"})
    [stored] = await store.find_files(generated_by="job-1")
    assert (stored["level"], stored["generated_by"]) == ("3", ["job-1"])


async def test_find_files_by_job_ordered_by_name_and_paged(store: Store) -> None:
    names = ["/c.txt", "/a.txt", "/d.txt", "/b.txt"]
    for name in names:
        await store.upsert_file(file_record(name, "job-1"))
    await store.upsert_file(file_record("/0-other.txt", "job-2"))
    shared = file_record("/e.txt", "job-2")
    await store.upsert_file(shared)
    await store.upsert_file({**shared, "generated_by": ["job-1"]})
    found = await store.find_files(generated_by="job-1")
    assert [f["name"] for f in found] == ["/a.txt", "/b.txt", "/c.txt", "/d.txt", "/e.txt"]
    page = await store.find_files(generated_by="job-1", limit=2, offset=2)
    assert [f["name"] for f in page] == ["/c.txt", "/d.txt"]
    assert [f["name"] for f in await store.find_files(generated_by="job-2")] == [
        "/0-other.txt",
        "/e.txt",
    ]
    assert len(await store.find_files()) == 6
    assert await store.find_files(generated_by="job-3") == []


async def test_find_files_by_exact_name_and_one_by_uuid(store: Store) -> None:
    out = file_record("/products/v2/a/out.csv", "job-1")
    longer = file_record("/products/v2/a/out.csv.bak", "job-1")
    other = file_record("/products/v2/b/out.csv", "job-2")
    for record in (out, longer, other):
        await store.upsert_file(record)
    assert await store.find_files(name="/products/v2/a/out.csv") == [out]
    assert await store.find_files(name="/products/v2/b/out.csv", generated_by="job-1") == []
    assert await store.find_files(name="out.csv") == []
    assert await store.get_file(other["uuid"]) == other
    assert await store.get_file("file-unknown") is None


async def test_file_without_uuid_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="uuid"):
        await store.upsert_file({"name": "/a.txt"})


# -- catalog -------------------------------------------------------------------------------
async def test_catalog_record_reads_back_by_uuid_and_text_id(store: Store) -> None:
    record = catalog_record("sample.tacc.abcde", "sample", "experiment-1")
    await store.put_catalog_record(record)
    assert await store.get_catalog_record(record["uuid"]) == record
    assert await store.get_catalog_record("sample.tacc.abcde") == record
    assert await store.get_catalog_record("sample.tacc.zzzzz") is None


async def test_catalog_record_is_replaced_by_uuid(store: Store) -> None:
    record = catalog_record("sample.tacc.1", "sample", "experiment-1")
    await store.put_catalog_record(record)
    renamed = {**record, "id": "sample.tacc.2", "child_of": ["experiment-2"], "note": "moved"}
    await store.put_catalog_record(renamed)
    assert await store.get_catalog_record("sample.tacc.1") is None
    assert await store.get_catalog_record("sample.tacc.2") == renamed
    assert await store.find_catalog_children("experiment-1", "sample") == []
    assert await store.find_catalog_children("experiment-2", "sample") == [renamed]


async def test_catalog_text_id_is_unique(store: Store) -> None:
    await store.put_catalog_record(catalog_record("sample.tacc.1", "sample"))
    with pytest.raises(Conflict, match=r"sample\.tacc\.1"):
        await store.put_catalog_record(catalog_record("sample.tacc.1", "sample"))


async def test_catalog_children_by_parent_and_type_ordered_by_text_id(store: Store) -> None:
    b = catalog_record("sample.b", "sample", "exp-1")
    a = catalog_record("sample.a", "sample", "exp-2", "exp-1")
    measurement = catalog_record("measurement.a", "measurement", "exp-1")
    elsewhere = catalog_record("sample.c", "sample", "exp-2")
    for record in (b, a, measurement, elsewhere):
        await store.put_catalog_record(record)
    assert await store.find_catalog_children("exp-1", "sample") == [a, b]
    assert await store.find_catalog_children("exp-1", "measurement") == [measurement]
    assert await store.find_catalog_children("exp-2", "sample") == [a, elsewhere]
    assert await store.find_catalog_children("exp-3", "sample") == []


async def test_catalog_records_of_one_type_by_text_id_paged(store: Store) -> None:
    records = [catalog_record(f"experiment.{n}", "experiment") for n in (3, 1, 2)]
    for record in [*records, catalog_record("sample.1", "sample", records[0]["uuid"])]:
        await store.put_catalog_record(record)
    first = await store.find_catalog_records("experiment", limit=2)
    rest = await store.find_catalog_records("experiment", limit=2, offset=2)
    assert [r["id"] for r in first + rest] == ["experiment.1", "experiment.2", "experiment.3"]
    assert await store.count_catalog_records("experiment") == 3
    assert await store.count_catalog_records("measurement") == 0


async def test_catalog_record_needs_type_and_text_id(store: Store) -> None:
    with pytest.raises(InvalidInput, match="'id'"):
        await store.put_catalog_record({"uuid": new_id(), "type": "sample"})
    with pytest.raises(InvalidInput, match="'type'"):
        await store.put_catalog_record({"uuid": new_id(), "id": "sample.x"})


# -- executions ----------------------------------------------------------------------------
def execution(**fields: object) -> JSON:
    return {
        "id": new_id("exec-"),
        "actor": "pipelines-manager",
        "message_id": new_id("msg-"),
        "status": "SUBMITTED",
        "submitted": "2024-05-01T00:00:00Z",
        **fields,
    }


async def test_execution_reads_back_with_an_empty_log(store: Store) -> None:
    record = execution()
    await store.save_execution(record)
    assert await store.get_execution(record["id"]) == {**record, "logs": []}
    assert await store.get_execution("exec-unknown") is None


async def test_saving_an_execution_again_keeps_the_first(store: Store) -> None:
    record = execution()
    await store.save_execution(record)
    await store.update_execution(record["id"], fields={"status": "RUNNING"}, log_lines=["one"])
    await store.save_execution({**record, "status": "SUBMITTED", "logs": ["other"]})
    stored = await store.get_execution(record["id"])
    assert stored is not None
    assert (stored["status"], stored["logs"]) == ("RUNNING", ["one"])


async def test_update_execution_sets_fields_and_appends_lines(store: Store) -> None:
    record = execution(logs=["Received message"])
    await store.save_execution(record)
    await store.update_execution(
        record["id"], fields={"status": "RUNNING"}, log_lines=["Action selected: create"]
    )
    await store.update_execution(record["id"], log_lines=["Created pipeline p", "done"])
    await store.update_execution(
        record["id"], fields={"status": "COMPLETE", "result": {"uuid": "p", "n": [1, 2]}}
    )
    stored = await store.get_execution(record["id"])
    assert stored == {
        **record,
        "status": "COMPLETE",
        "result": {"uuid": "p", "n": [1, 2]},
        "logs": ["Received message", "Action selected: create", "Created pipeline p", "done"],
    }


async def test_a_conditional_update_writes_only_in_the_status_it_names(store: Store) -> None:
    record = execution(status="SUBMITTED")
    await store.save_execution(record)
    assert await store.update_execution(record["id"], fields={"status": "COMPLETE"})

    late = await store.update_execution(
        record["id"],
        fields={"status": "ERROR", "error": "late"},
        log_lines=["late"],
        if_status="SUBMITTED",
    )

    stored = await store.get_execution(record["id"])
    assert stored is not None
    assert late is False
    assert (stored["status"], stored.get("error"), stored["logs"]) == ("COMPLETE", None, [])
    assert await store.update_execution(
        record["id"], fields={"finished": "now"}, if_status="COMPLETE"
    )
    with pytest.raises(NotFound, match="exec-unknown"):
        await store.update_execution("exec-unknown", fields={"a": 1}, if_status="SUBMITTED")


async def test_update_of_an_unknown_execution_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="exec-unknown"):
        await store.update_execution("exec-unknown", fields={"status": "RUNNING"})
    with pytest.raises(NotFound, match="exec-unknown"):
        await store.update_execution("exec-unknown")


async def test_update_cannot_replace_the_log(store: Store) -> None:
    record = execution()
    await store.save_execution(record)
    with pytest.raises(InvalidInput, match="logs"):
        await store.update_execution(record["id"], fields={"logs": []})


# -- submitting an execution: a retry of a never-accepted message starts clean ---------------
async def test_submitting_a_new_execution_inserts_it(store: Store) -> None:
    record = execution(logs=["Received message"])

    assert await store.submit_execution(record) is True

    assert await store.get_execution(record["id"]) == record


async def test_submitting_again_starts_a_never_accepted_execution_afresh(store: Store) -> None:
    first = execution()
    await store.submit_execution(first)
    await store.update_execution(
        first["id"], fields=not_accepted("not accepted: bus down"), log_lines=["refused"]
    )
    retry = {**first, "submitted": "2024-05-01T00:05:00Z"}

    assert await store.submit_execution(retry) is True

    assert await store.get_execution(first["id"]) == {**retry, "logs": []}
    assert await store.submit_execution(retry) is False  # now accepted: kept


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "SUBMITTED"},
        {"status": "RUNNING"},
        {"status": "COMPLETE", "result": {"uuid": "p"}},
        {"status": "ERROR", "error": "token is wrong"},
        {"status": "RUNNING", "accepted": False},
    ],
    ids=["submitted", "running", "complete", "refused-by-the-actor", "taken-after-all"],
)
async def test_submitting_again_keeps_an_execution_that_was_accepted(
    store: Store, fields: dict[str, object]
) -> None:
    record = execution()
    await store.submit_execution(record)
    await store.update_execution(record["id"], fields=fields, log_lines=["one"])

    assert await store.submit_execution({**record, "logs": ["other"]}) is False

    stored = await store.get_execution(record["id"])
    assert stored == {**record, **fields, "logs": ["one"]}


async def test_executions_of_an_actor_newest_first_by_sender_without_logs(store: Store) -> None:
    alice_old = execution(sender="user:alice", submitted="2024-05-01T00:00:01.000Z", logs=["x"])
    alice_new = execution(sender="nonce:alice", submitted="2024-05-01T00:00:03.000Z")
    bob = execution(sender="user:bob", submitted="2024-05-01T00:00:02.000Z")
    elsewhere = execution(actor="jobs-manager", sender="user:alice")
    for record in (alice_old, alice_new, bob, elsewhere):
        await store.save_execution(record)
    everyone = await store.find_executions("pipelines-manager")
    alices = await store.find_executions("pipelines-manager", senders=["user:alice", "nonce:alice"])
    assert [e["id"] for e in everyone] == [alice_new["id"], bob["id"], alice_old["id"]]
    assert alices == [alice_new, {k: v for k, v in alice_old.items() if k != "logs"}]
    assert await store.find_executions("pipelines-manager", senders=[]) == []
    assert [e["id"] for e in await store.find_executions("pipelines-manager", offset=2)] == [
        alice_old["id"]
    ]
