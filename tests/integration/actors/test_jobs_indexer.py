"""The jobs-indexer through the runtime: index a finished job's archive path, then ``indexed``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.actors.jobs_indexer import JobsIndexer
from pipelinejobs.application.filters import MAX_FILTERS
from pipelinejobs.application.ledger import history as stored_history
from pipelinejobs.application.ledger import history_event, record_job_event
from pipelinejobs.application.submission import submit
from pipelinejobs.domain.derived_ids import follow_up_message_id
from pipelinejobs.domain.executions import execution_id_for
from pipelinejobs.domain.identifiers import UUIDType, file_uuid, typed_uuid
from pipelinejobs.host.bootstrap import System
from pipelinejobs.logs import ExecutionLog
from pipelinejobs.storage.local import LocalStorage
from settling import dead_letters

pytestmark = pytest.mark.asyncio

SYSTEM = "data-sd2e-community"
PIPELINE = typed_uuid("indexer test pipeline", UUIDType.PIPELINE)
JOB = typed_uuid("indexer test job", UUIDType.PIPELINEJOB)
ARCHIVE = "/products/v2/106c46ff81865756a934071f4497b58d/PAVpwrwq/Mzg0ZDE2"
OUTPUTS = {
    "sample.uw_biofab.141715.fcs": b"FCS3.0",
    "sample-uw_biofab-141715.csv": b"a,b\n",
    "sampleXuw_biofabX141715.png": b"\x89PNG",
    "sample.uw_biofab.999999.fcs": b"FCS3.0",
    "logs/run.log": b"ok\n",
}
DOCS_FILTERS = ["sample%5C.uw_biofab%5C.141715", "sample-uw_biofab-141715"]


def archived(name: str) -> str:
    return f"{ARCHIVE}/{name}"


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


async def start(make_system: Any, storage: LocalStorage, bus: str = "embedded") -> System:
    system: System = await make_system(bus=bus, actors=[JobsIndexer(storage=storage)])
    return system


async def create_job(
    system: System, storage: LocalStorage, *, state: str = "FINISHED", uuid: str = JOB
) -> str:
    """A job as the jobs-manager leaves it after ``finish``, with its outputs archived."""
    events = [history_event(name, {}, domain="sd2e.org") for name in ("create", "run", "finish")]
    body = {
        "uuid": uuid,
        "pipeline_uuid": PIPELINE,
        "archive_path": ARCHIVE,
        "archive_system": SYSTEM,
        "archive_patterns": [],
        "data": {},
        "derived_from": [],
        "generated_by": [PIPELINE],
        "history": events,
        "last_event": "finish",
        "state": state,
        "session": "casual-bass",
        "updated": events[-1]["date"],
        "created": events[0]["date"],
        "owner": "user:local",
    }
    await system.store.create_document("jobs", body, message_id=f"create-{uuid}")
    for name, content in OUTPUTS.items():
        await storage.write_bytes(SYSTEM, archived(name), content)
    return uuid


def token(system: System, uuid: str = JOB) -> str:
    return system.update_tokens.issue(uuid)


async def wait_for_indexed(system: System, index_execution: dict[str, Any]) -> dict[str, Any]:
    """The execution of the ``indexed`` follow-up the indexer sent itself."""
    follow_up = execution_id_for(follow_up_message_id(index_execution["message_id"], 1))
    return await system.wait(follow_up)


async def history_names(system: System, uuid: str = JOB) -> list[str]:
    job = await system.store.get_document("jobs", uuid)
    assert job is not None
    return [event["name"] for event in await stored_history(system.store, "jobs", uuid)]


async def job_state(system: System, uuid: str = JOB) -> str:
    job = await system.store.get_document("jobs", uuid)
    assert job is not None
    return str(job.body["state"])


async def test_documented_json_request_indexes_matching_files_at_level_2(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus_backend)
    await create_job(system, storage)
    request = {
        "uuid": JOB,
        "name": "index",
        "filters": DOCS_FILTERS,
        "level": "2",
        "token": token(system),
    }
    execution = await system.wait(await system.send("jobs-indexer", request))

    assert execution["status"] == "COMPLETE", execution["error"]
    selected = [archived("sample-uw_biofab-141715.csv"), archived("sample.uw_biofab.141715.fcs")]
    assert execution["result"] == {"uuid": JOB, "indexed": 2, "level": "2", "files": selected}
    assert any(f"Indexed 2 files of job {JOB} at level 2" in line for line in execution["logs"])
    files = await system.store.find_files(generated_by=JOB)
    assert files == [
        {
            "uuid": file_uuid(selected[0]),
            "name": selected[0],
            "storage_system": SYSTEM,
            "type": "CSV",
            "level": "2",
            "generated_by": [JOB],
        },
        {
            "uuid": file_uuid(selected[1]),
            "name": selected[1],
            "storage_system": SYSTEM,
            "type": "FCS",
            "level": "2",
            "generated_by": [JOB],
        },
    ]
    indexed = await wait_for_indexed(system, execution)
    assert indexed["status"] == "COMPLETE", indexed["error"]
    assert indexed["result"] == {"uuid": JOB, "state": "FINISHED"}
    job = await system.store.get_document("jobs", JOB)
    assert job is not None
    events = await stored_history(system.store, "jobs", JOB)
    assert [event["name"] for event in events][-2:] == ["index", "indexed"]
    assert events[-2]["data"] == {
        "level": "2",
        "filters": [r"sample\.uw_biofab\.141715", "sample-uw_biofab-141715"],
    }
    assert job.body["state"] == "FINISHED"
    assert job.body["last_event"] == "indexed"


async def test_documented_url_parameter_request_with_filters_in_the_body(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus_backend)
    await create_job(system, storage)
    params = {"uuid": JOB, "level": "2", "token": token(system), "name": "index"}
    # the docs' unescaped '.' matches any character, so 'sampleXuw_biofabX141715' is selected too
    body = {"filters": ["sample.uw_biofab.141715", "sample-uw_biofab-141715"]}
    execution = await system.wait(await system.send("jobs-indexer", body, context=params))

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["files"] == [
        archived("sample-uw_biofab-141715.csv"),
        archived("sample.uw_biofab.141715.fcs"),
        archived("sampleXuw_biofabX141715.png"),
    ]
    assert {f["level"] for f in await system.store.find_files(generated_by=JOB)} == {"2"}
    assert (await wait_for_indexed(system, execution))["status"] == "COMPLETE"
    assert (await history_names(system))[-2:] == ["index", "indexed"]
    assert await job_state(system) == "FINISHED"


async def test_url_parameters_alone_with_event_and_a_json_array_of_filters(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage)
    params = {
        "uuid": JOB,
        "event": "index",
        "token": token(system),
        "filters": r'["\\.fcs$"]',
    }
    execution = await system.wait(await system.send("jobs-indexer", None, context=params))
    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["files"] == [
        archived("sample.uw_biofab.141715.fcs"),
        archived("sample.uw_biofab.999999.fcs"),
    ]
    assert execution["result"]["level"] == "1"


async def test_without_filters_every_file_is_indexed_at_level_1(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage)
    request = {"uuid": JOB, "name": "index", "token": token(system)}
    execution = await system.wait(await system.send("jobs-indexer", request))

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["indexed"] == len(OUTPUTS)
    files = await system.store.find_files(generated_by=JOB)
    assert [f["name"] for f in files] == sorted(archived(name) for name in OUTPUTS)
    assert {f["level"] for f in files} == {"1"}
    assert {f["name"]: f["type"] for f in files}[archived("logs/run.log")] == "TEXT"


async def test_indexing_twice_links_each_file_once(make_system: Any, storage: LocalStorage) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage)
    request = {"uuid": JOB, "name": "index", "token": token(system)}
    for _ in range(2):
        execution = await system.wait(await system.send("jobs-indexer", request))
        assert execution["status"] == "COMPLETE", execution["error"]
        assert (await wait_for_indexed(system, execution))["status"] == "COMPLETE"

    files = await system.store.find_files()
    assert len(files) == len(OUTPUTS)
    assert all(f["generated_by"] == [JOB] for f in files)
    assert (await history_names(system))[-4:] == ["index", "indexed", "index", "indexed"]
    assert await job_state(system) == "FINISHED"


async def test_an_admin_token_may_index(make_system: Any, storage: LocalStorage) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage)
    admin = system.admin_tokens.issue(time.time())
    request = {"uuid": JOB, "name": "index", "token": admin, "filters": [r"\.png$"]}
    execution = await system.wait(await system.send("jobs-indexer", request))
    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["indexed"] == 1


async def assert_refused_and_nothing_written(
    system: System, execution: dict[str, Any], *reasons: str
) -> None:
    assert execution["status"] == "ERROR"
    for reason in reasons:
        assert reason in execution["error"]
    dead = await dead_letters(system.bus, "jobs-indexer")
    assert any(all(reason in letter.reason for reason in reasons) for letter in dead)
    job = await system.store.get_document("jobs", JOB)
    assert job is not None
    assert job.version == 3
    assert [e["name"] for e in await stored_history(system.store, "jobs", JOB)] == [
        "create",
        "run",
        "finish",
    ]
    assert await system.store.find_files() == []


async def test_an_invalid_filter_is_refused_naming_it_before_anything_is_written(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage)
    request = {
        "uuid": JOB,
        "name": "index",
        "token": token(system),
        "filters": ["sample", "(?<=x)sample("],
    }
    execution = await system.wait(await system.send("jobs-indexer", request))
    await assert_refused_and_nothing_written(
        system, execution, "filters[1] '(?<=x)sample('", "invalid perl operator"
    )


async def test_too_many_filters_are_refused(make_system: Any, storage: LocalStorage) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage)
    request = {
        "uuid": JOB,
        "name": "index",
        "token": token(system),
        "filters": [f"f{n}" for n in range(MAX_FILTERS + 1)],
    }
    execution = await system.wait(await system.send("jobs-indexer", request))
    await assert_refused_and_nothing_written(
        system, execution, f"{MAX_FILTERS + 1} entries; at most {MAX_FILTERS}"
    )


@pytest.mark.parametrize(
    ("presented", "problem"), [("0123456789abcdef", "is not valid"), (None, "is missing")]
)
async def test_a_wrong_or_missing_token_is_refused(
    make_system: Any, storage: LocalStorage, presented: str | None, problem: str
) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage)
    request: dict[str, Any] = {"uuid": JOB, "name": "index"}
    if presented is not None:
        request["token"] = presented
    execution = await system.wait(await system.send("jobs-indexer", request))
    await assert_refused_and_nothing_written(system, execution, f"token for job {JOB} {problem}")
    assert token(system) not in execution["error"]


async def test_indexing_a_running_job_is_not_allowed(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage, state="RUNNING")
    request = {"uuid": JOB, "name": "index", "token": token(system)}
    execution = await system.wait(await system.send("jobs-indexer", request))
    await assert_refused_and_nothing_written(
        system, execution, "event 'index' is not allowed in state RUNNING"
    )


@pytest.mark.parametrize(
    ("request_fields", "reason"),
    [
        ({"level": "4"}, "$.level"),
        ({"filters": "sample"}, "$.filters"),
        ({"name": "reindex"}, "field 'name' is 'reindex'"),
        ({"name": None}, "field 'name' is missing"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_malformed_requests_are_refused(
    make_system: Any, storage: LocalStorage, request_fields: dict[str, Any], reason: str
) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage)
    request = {"uuid": JOB, "name": "index", "token": token(system), **request_fields}
    request = {key: value for key, value in request.items() if value is not None}
    execution = await system.wait(await system.send("jobs-indexer", request))
    await assert_refused_and_nothing_written(system, execution, reason)


async def test_a_field_given_differently_in_url_and_body_is_refused(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage)
    params = {"uuid": JOB, "name": "index", "token": token(system), "level": "2"}
    execution = await system.wait(await system.send("jobs-indexer", {"level": "3"}, context=params))
    await assert_refused_and_nothing_written(
        system, execution, "field 'level' is given as a URL parameter and in the body"
    )


async def test_an_unknown_job_is_not_found(make_system: Any, storage: LocalStorage) -> None:
    system = await start(make_system, storage)
    unknown = typed_uuid("no such job", UUIDType.PIPELINEJOB)
    request = {"uuid": unknown, "name": "index", "token": token(system, unknown)}
    execution = await system.wait(await system.send("jobs-indexer", request))
    assert execution["status"] == "ERROR"
    assert f"no job with uuid {unknown}" in execution["error"]


async def test_indexed_returns_an_indexing_job_to_finished(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus_backend)
    await create_job(system, storage, state="INDEXING")
    params = {"uuid": JOB, "name": "indexed", "token": token(system)}
    execution = await system.wait(await system.send("jobs-indexer", None, context=params))
    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"] == {"uuid": JOB, "state": "FINISHED"}
    assert (await history_names(system))[-1] == "indexed"


async def test_indexed_on_a_running_job_is_not_allowed(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage, state="RUNNING")
    request = {"uuid": JOB, "name": "indexed", "token": token(system)}
    execution = await system.wait(await system.send("jobs-indexer", request))
    await assert_refused_and_nothing_written(
        system, execution, "event 'indexed' is not allowed in state RUNNING"
    )


async def test_a_redelivered_index_relinks_and_resends_the_same_indexed_message(
    make_system: Any, storage: LocalStorage
) -> None:
    """The runtime redelivers a message whose ack was lost: same message id, same effect."""
    system = await start(make_system, storage)
    await create_job(system, storage)
    indexer = JobsIndexer(storage=storage)
    message = Message(
        document={"uuid": JOB, "name": "index", "token": token(system), "filters": [r"\.fcs$"]},
        context={},
        message_id="index-once",
    )

    def context() -> ActorContext:
        return ActorContext(
            actor="jobs-indexer",
            execution_id="E1",
            message_id=message.message_id,
            store=system.store,
            settings=system.settings,
            update_tokens=system.update_tokens,
            admin_tokens=system.admin_tokens,
            log=ExecutionLog("E1", "jobs-indexer"),
        )

    first, second = context(), context()
    first_reply = await indexer.handle(message, first)
    job_after_first = await system.store.get_document("jobs", JOB)
    second_reply = await indexer.handle(message, second)

    assert second_reply == first_reply
    assert await system.store.get_document("jobs", JOB) == job_after_first
    assert (await history_names(system)).count("index") == 1
    assert len(await system.store.find_files(generated_by=JOB)) == 2
    assert [e.message_id for e in second.follow_ups] == [e.message_id for e in first.follow_ups]
    assert [e.body for e in second.follow_ups] == [e.body for e in first.follow_ups]


async def test_an_archive_path_linked_outside_its_storage_is_refused_before_any_write(
    make_system: Any, storage: LocalStorage, tmp_path: Path
) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("secret")
    await storage.clear(SYSTEM, ARCHIVE)
    archive = storage.local_path(SYSTEM, ARCHIVE)
    archive.rmdir()
    archive.symlink_to(outside)
    request = {"uuid": JOB, "name": "index", "token": token(system)}
    execution = await system.wait(await system.send("jobs-indexer", request))
    await assert_refused_and_nothing_written(
        system, execution, f"path {ARCHIVE!r} on storage system {SYSTEM!r} resolves outside"
    )


def expired_admin(system: System) -> str:
    """An admin token issued long enough ago that it no longer verifies."""
    return system.admin_tokens.issue(time.time() - 10 * system.admin_tokens.lifetime)


async def test_a_redelivered_index_whose_admin_token_expired_links_and_sends_indexed(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus_backend)
    await create_job(system, storage)
    filters = [r"\.png$"]
    await record_job_event(
        system.store,
        JOB,
        "index",
        {"level": "2", "filters": filters},
        message_id="m-index",
        domain="sd2e.org",
    )  # the first delivery got this far before its ack was lost
    request = {
        "uuid": JOB,
        "name": "index",
        "level": "2",
        "filters": filters,
        "token": expired_admin(system),
    }

    execution = await system.wait(
        await submit(
            system.store,
            system.bus,
            "jobs-indexer",
            body=json.dumps(request).encode(),
            message_id="m-index",
        )
    )

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["files"] == [archived("sampleXuw_biofabX141715.png")]
    assert [f["level"] for f in await system.store.find_files(generated_by=JOB)] == ["2"]
    indexed = await wait_for_indexed(system, execution)
    assert indexed["status"] == "COMPLETE", indexed["error"]
    assert (await history_names(system))[-2:] == ["index", "indexed"]
    assert await job_state(system) == "FINISHED"


async def test_a_redelivered_indexed_whose_admin_token_expired_is_answered(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage, state="INDEXING")
    await record_job_event(
        system.store, JOB, "indexed", {}, message_id="m-indexed", domain="sd2e.org"
    )
    params = {"uuid": JOB, "name": "indexed", "token": expired_admin(system)}

    execution = await system.wait(
        await submit(
            system.store,
            system.bus,
            "jobs-indexer",
            body=b"",
            context=params,
            message_id="m-indexed",
        )
    )

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"] == {"uuid": JOB, "state": "FINISHED"}
    assert (await history_names(system)).count("indexed") == 1


async def test_a_new_index_with_an_expired_admin_token_is_refused(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await create_job(system, storage)
    request = {"uuid": JOB, "name": "index", "token": expired_admin(system)}
    execution = await system.wait(await system.send("jobs-indexer", request))
    await assert_refused_and_nothing_written(system, execution, f"token for job {JOB} is not valid")
