"""The jobs-manager through the runtime: job events in every accepted form, tokens, reset,
automatic indexing, and the agents' ``create`` action."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pipelinejobs.actors.base import ActorContext, Message
from pipelinejobs.actors.jobs_indexer import JobsIndexer
from pipelinejobs.actors.jobs_manager import LAUNCH_SEARCH_PAGE, JobsManager
from pipelinejobs.application.catalog import load_catalog
from pipelinejobs.application.ledger import history as stored_history
from pipelinejobs.application.ledger import history_event, record_job_event
from pipelinejobs.application.submission import submit
from pipelinejobs.domain.derived_ids import follow_up_message_id
from pipelinejobs.domain.executions import execution_id_for
from pipelinejobs.domain.identifiers import UUIDType, pipeline_uuid, typed_uuid, uuid_type
from pipelinejobs.host.bootstrap import System
from pipelinejobs.storage.local import LocalStorage
from pipelinejobs.store.port import StoredDocument
from settling import dead_letters
from stored_pipelines import add_pipeline as store_pipeline

WAIT_LIMIT = 30.0
"""Seconds to wait for a redelivery before the test fails (a guard, not a timing check)."""
ALIAS = "jobs-manager"
DOMAIN = "sd2e.org"
SYSTEM = "data-sd2e-community"
COMPONENTS = [{"id": "tacobot9000-0.1.0u1", "inputs": {}, "parameters": {}}]
PIPELINE = pipeline_uuid(COMPONENTS)
JOB = "1073f4ff-c2b9-5190-bd9a-e6a406d9796a"  # the documentation's finish example
ARCHIVE = "/products/v2/106bd127e2d257acb9be11ed06042e68/PAVpwrObxp5YjYRvrJOd5yVp/casual-bass"
PATTERNS = [
    {"level": "2", "patterns": [r"\.png$"]},
    {"level": "3", "patterns": [r"\.csv$"]},
]
CATALOG = Path(__file__).parents[2] / "fixtures" / "catalog.json"
AGAVE_JOB: dict[str, Any] = {
    "id": "7381691026605150696-242ac11b-0001-007",
    "name": "TACObot job",
    "owner": "tacobot",
    "appId": "tacobot9000-0.1.0u1",
    "executionSystem": "hpc-tacc-stampede2",
    "archive": True,
    "archivePath": ARCHIVE,
    "archiveSystem": "data-tacc-cloud",
    "status": "RUNNING",
    "inputs": {"file1": "agave://data.tacc.cloud/examples/tacobot/test1.txt"},
    "parameters": {"avocado": False, "cheese": True, "salsa": True},
    "retries": 0,
    "localId": "12345",
    "_links": {"self": {"href": "https://api.tacc.cloud/jobs/v2/7381691026605150696"}},
}


class IndexerRecorder:
    """Stands in for the jobs-indexer: records what it is sent."""

    alias: ClassVar[str] = "jobs-indexer"

    def __init__(self) -> None:
        self.received: list[Message] = []

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        self.received.append(message)
        return {"received": len(self.received)}


class ProxyRecorder(IndexerRecorder):
    """Stands in for the agave-proxy: records the cancel requests it is sent."""

    alias: ClassVar[str] = "agave-proxy"


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def indexer() -> IndexerRecorder:
    return IndexerRecorder()


async def start(
    make_system: Any,
    storage: LocalStorage,
    indexer: IndexerRecorder | None = None,
    bus: str = "embedded",
    **settings: Any,
) -> System:
    actors: list[Any] = [JobsManager(storage=storage)]
    if indexer is not None:
        actors.append(indexer)
    system: System = await make_system(bus=bus, actors=actors, **settings)
    return system


async def add_job(
    system: System,
    *,
    state: str = "RUNNING",
    uuid: str = JOB,
    archive_patterns: list[dict[str, Any]] | None = None,
) -> str:
    """A job as an agent leaves it: created, and possibly moved on to ``state``."""
    names = {"CREATED": ["create"], "RUNNING": ["create", "run"]}.get(
        state, ["create", "run", "finish"]
    )
    events = [history_event(name, {}, domain=DOMAIN) for name in names]
    body = {
        "uuid": uuid,
        "pipeline_uuid": PIPELINE,
        "archive_path": ARCHIVE,
        "archive_system": SYSTEM,
        "archive_patterns": archive_patterns or [],
        "data": {},
        "derived_from": [],
        "generated_by": [PIPELINE],
        "history": events,
        "last_event": names[-1],
        "session": "casual-bass",
        "state": state,
        "agent": None,
        "task": None,
        "owner": "user:agent",
        "created": events[0]["date"],
        "updated": events[-1]["date"],
    }
    await system.store.create_document("jobs", body, message_id=f"create-{uuid}")
    return uuid


def token(system: System, uuid: str = JOB) -> str:
    return system.update_tokens.issue(uuid)


def admin(system: System) -> str:
    return system.admin_tokens.issue(time.time())


async def run(
    system: System, document: Any = None, *, sender: str | None = "user:local", **context: str
) -> dict[str, Any]:
    execution_id = await system.send(ALIAS, document, context=context or None, sender=sender)
    return await system.wait(execution_id)


async def job(system: System, uuid: str = JOB) -> StoredDocument:
    document = await system.store.get_document("jobs", uuid)
    assert document is not None
    return document


async def history(system: System, uuid: str = JOB) -> list[tuple[str, dict[str, Any]]]:
    return [
        (event["name"], event["data"]) for event in await stored_history(system.store, "jobs", uuid)
    ]


def logged(execution: dict[str, Any], level: str, text: str) -> bool:
    return any(line.endswith(f" {level} {text}") for line in execution["logs"])


async def refused(system: System, execution: dict[str, Any]) -> str:
    """The reason of a refused message, checked to be on the execution and the dead letter."""
    assert execution["status"] == "ERROR", execution["result"]
    reasons = [dead.reason for dead in await dead_letters(system.bus, ALIAS)]
    assert execution["error"] in reasons
    return str(execution["error"])


async def indexer_barrier(system: System, indexer: IndexerRecorder) -> list[dict[str, Any]]:
    """Everything the indexer got before a marker sent after it on the job's partition."""
    await system.wait(await system.send("jobs-indexer", {"uuid": JOB, "marker": True}))
    documents = [message.document for message in indexer.received]
    assert documents[-1] == {"uuid": JOB, "marker": True}
    return documents[:-1]


async def test_documented_finish_event(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus=bus_backend)
    await add_job(system)

    execution = await run(system, {"uuid": JOB, "name": "finish", "token": token(system)})

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"] == {
        "uuid": JOB,
        "event": "finish",
        "state": "FINISHED",
        "last_event": "finish",
    }
    assert logged(execution, "INFO", f"Job {JOB} finish: RUNNING -> FINISHED")
    body = (await job(system)).body
    assert (body["state"], body["last_event"]) == ("FINISHED", "finish")
    finish = (await stored_history(system.store, "jobs", JOB))[-1]
    assert sorted(finish) == ["data", "date", "name", "uuid"]
    assert (finish["name"], finish["data"]) == ("finish", {})
    assert uuid_type(finish["uuid"]) is UUIDType.PIPELINEJOB_EVENT
    assert body["updated"] == finish["date"]


async def test_event_data_and_case_insensitive_names_with_url_token(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await add_job(system)

    execution = await run(
        system, {"uuid": JOB, "name": "UPDATE", "data": {"progress": 0.5}}, token=token(system)
    )

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["event"] == "update"
    assert (await history(system))[-1] == ("update", {"progress": 0.5})
    assert (await job(system)).body["state"] == "RUNNING"


async def test_url_parameter_event_attaches_the_body_as_data(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus=bus_backend)
    await add_job(system)

    execution = await run(
        system,
        {"arbitrary": "key value data"},
        uuid=JOB,
        event="Finish",
        token=token(system),
        note="outputs archived",
    )

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["state"] == "FINISHED"
    assert (await history(system))[-1] == (
        "finish",
        {"arbitrary": "key value data", "note": "outputs archived"},
    )


async def test_url_parameter_event_with_empty_body_and_name_parameter(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await add_job(system)

    execution = await run(system, None, uuid=JOB, name="fail", token=token(system))

    assert execution["status"] == "COMPLETE", execution["error"]
    assert (await history(system))[-1] == ("fail", {})
    assert (await job(system)).body["state"] == "FAILED"


async def test_compute_callback_running_records_the_job_record_without_private_fields(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus=bus_backend)
    await add_job(system, state="CREATED")

    execution = await run(
        system, AGAVE_JOB, uuid=JOB, token=token(system), status="${JOB_STATUS}", session="x"
    )

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["state"] == "RUNNING"
    assert logged(execution, "INFO", f"Job {JOB} run: CREATED -> RUNNING")
    name, data = (await history(system))[-1]
    assert name == "run"
    private = {"_links", "retries", "localId"}
    assert data == {key: value for key, value in AGAVE_JOB.items() if key not in private}


async def test_compute_callback_failed_records_the_job_record_with_its_reason(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus=bus_backend)
    await add_job(system)
    record = {**AGAVE_JOB, "status": "FAILED", "lastStatusMessage": "Out of tortillas"}

    execution = await run(system, record, uuid=JOB, token=token(system), status="failed")

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["state"] == "FAILED"
    private = {"_links", "retries", "localId"}
    assert (await history(system))[-1] == (
        "fail",
        {key: value for key, value in record.items() if key not in private},
    )


async def test_compute_callback_status_parameter_decides_the_event_the_body_is_its_data(
    make_system: Any, storage: LocalStorage
) -> None:
    """The URL's status names the event; the data is still what the service posted."""
    system = await start(make_system, storage)
    await add_job(system)
    record = {**AGAVE_JOB, "status": "RUNNING"}

    execution = await run(system, record, uuid=JOB, token=token(system), status="QUEUED")

    assert execution["status"] == "COMPLETE", execution["error"]
    name, data = (await history(system))[-1]
    assert (name, data["status"], data["id"]) == ("resource", "RUNNING", AGAVE_JOB["id"])


async def test_status_url_parameter_with_another_body_maps_the_status_to_the_event(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await add_job(system)

    execution = await run(system, {"id": "job-1"}, uuid=JOB, token=token(system), status="finished")

    assert execution["status"] == "COMPLETE", execution["error"]
    assert (await history(system))[-1] == ("finish", {"id": "job-1", "status": "FINISHED"})


async def test_forbidden_transition_is_refused_naming_state_and_allowed_events(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus=bus_backend)
    await add_job(system, state="FINISHED")
    before = await job(system)

    execution = await run(system, {"uuid": JOB, "name": "run", "token": token(system)})

    reason = await refused(system, execution)
    assert "event 'run' is not allowed in state FINISHED" in reason
    assert "allowed events: finish, index, indexed, validate, retire, reset" in reason
    after = await job(system)
    assert (after.version, after.body) == (before.version, before.body)
    [dead] = await dead_letters(system.bus, ALIAS)
    assert json.loads(dead.envelope.body)["name"] == "run"


async def test_unknown_event_is_refused_naming_the_events_the_actor_accepts(
    make_system: Any, storage: LocalStorage
) -> None:
    """Also when it reaches the actor without the gateway's check (sent on the bus)."""
    system = await start(make_system, storage)
    await add_job(system)

    as_document = await run(system, {"uuid": JOB, "name": "explode", "token": token(system)})
    as_parameters = await run(system, {}, uuid=JOB, event="explode", token=token(system))

    for execution in (as_document, as_parameters):
        reason = await refused(system, execution)
        assert reason.startswith("event 'explode' is unknown; the jobs-manager accepts the events")
        assert "run, update, resource, fail, finish, index, indexed, validate" in reason
    assert [name for name, _ in await history(system)] == ["create", "run"]


async def test_create_event_from_a_user_is_refused(make_system: Any, storage: LocalStorage) -> None:
    system = await start(make_system, storage)
    await add_job(system, state="CREATED")

    execution = await run(system, {"uuid": JOB, "name": "create", "token": token(system)})

    reason = await refused(system, execution)
    assert "reserved for agents; send action=create to create a job" in reason
    assert [name for name, _ in await history(system)] == ["create"]


async def test_wrong_or_missing_token_is_refused_and_nothing_written(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus=bus_backend)
    await add_job(system)
    other = system.update_tokens.issue(typed_uuid("another job", UUIDType.PIPELINEJOB))
    before = await job(system)

    wrong = await run(system, {"uuid": JOB, "name": "finish", "token": other})
    missing = await run(system, {"arbitrary": 1}, uuid=JOB, event="finish")

    wrong_reason = await refused(system, wrong)
    assert f"token for job {JOB} is not valid" in wrong_reason
    assert token(system) not in wrong_reason
    assert f"token for job {JOB} is missing" in await refused(system, missing)
    after = await job(system)
    assert (after.version, after.body) == (before.version, before.body)


async def test_reset_needs_an_admin_token_and_empties_the_archive_path(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus=bus_backend)
    await add_job(system, state="FINISHED")
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/out/taco.png", b"\x89PNG")

    with_update_token = await run(system, {"uuid": JOB, "name": "reset", "token": token(system)})
    reason = await refused(system, with_update_token)
    assert "event 'reset' needs an admin token" in reason
    assert "update token, which is not enough" in reason
    assert "pipelinejobs admin-token" in reason
    assert await storage.list_files(SYSTEM, ARCHIVE) == [f"{ARCHIVE}/out/taco.png"]

    reset = await run(
        system, {"uuid": JOB, "name": "reset", "token": admin(system), "data": {"why": "rerun"}}
    )

    assert reset["status"] == "COMPLETE", reset["error"]
    assert reset["result"]["state"] == "RESET"
    assert await storage.list_files(SYSTEM, ARCHIVE) == []
    assert storage.local_path(SYSTEM, ARCHIVE).is_dir()
    assert (await history(system))[-1] == ("reset", {"why": "rerun"})


async def move_archive(system: System, path: str) -> None:
    """Point the job at another archive path (an agent may choose any absolute one)."""
    job_document = await job(system)
    await system.store.append_event(
        "jobs",
        JOB,
        expected_version=job_document.version,
        event=history_event("update", {}, domain=DOMAIN),
        changes={"archive_path": path},
        message_id=f"move-archive-{path}",
    )


@pytest.mark.parametrize(
    "path",
    [
        "/products/v2",  # every job's outputs
        "/products/v2x/custom/run-1",  # a lookalike prefix, not below /products/v2
        "/home/alice/thesis/data",
        "/products/v1/106bd127/eligible-awk",
    ],
)
async def test_reset_leaves_an_archive_path_outside_job_products_as_is(
    make_system: Any, storage: LocalStorage, path: str
) -> None:
    system = await start(make_system, storage)
    await add_job(system, state="FAILED")
    await move_archive(system, path)
    await storage.write_bytes(SYSTEM, f"{path}/other/out.csv", b"a,b\n")

    execution = await run(system, {"uuid": JOB, "name": "reset", "token": admin(system)})

    assert execution["status"] == "COMPLETE", execution["error"]
    assert await storage.list_files(SYSTEM, path) == [f"{path}/other/out.csv"]
    assert execution["result"]["state"] == "RESET"
    assert execution["result"]["archive_path_emptied"] is False
    assert logged(
        execution,
        "WARNING",
        f"Archive path {path!r} of job {JOB} was left as is (not emptied): reset empties "
        "only paths below /products/v2 or /sample/tacc-cloud",
    )
    assert (await history(system))[-1][0] == "reset"


async def test_reset_empties_an_archive_path_below_sample_tacc_cloud(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await add_job(system, state="FAILED")
    path = "/sample/tacc-cloud/agave/run-7"
    await move_archive(system, path)
    await storage.write_bytes(SYSTEM, f"{path}/out.csv", b"a,b\n")

    execution = await run(system, {"uuid": JOB, "name": "reset", "token": admin(system)})

    assert execution["status"] == "COMPLETE", execution["error"]
    assert await storage.list_files(SYSTEM, path) == []
    assert execution["result"]["archive_path_emptied"] is True


async def test_ready_needs_an_admin_token_and_returns_the_job_to_created(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus=bus_backend)
    await add_job(system, state="RESET")

    with_update_token = await run(system, {}, uuid=JOB, event="ready", token=token(system))
    assert "event 'ready' needs an admin token" in await refused(system, with_update_token)
    assert (await job(system)).body["state"] == "RESET"

    ready = await run(system, {}, uuid=JOB, event="ready", token=admin(system))

    assert ready["status"] == "COMPLETE", ready["error"]
    assert ready["result"] == {
        "uuid": JOB,
        "event": "ready",
        "state": "CREATED",
        "last_event": "ready",
    }


async def test_redelivered_reset_empties_the_archive_path_again(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await add_job(system, state="FAILED")
    body = json.dumps({"uuid": JOB, "name": "reset", "token": admin(system)}).encode()
    await system.wait(await submit(system.store, system.bus, ALIAS, body=body, message_id="m-r"))
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/left-over.csv", b"a,b\n")

    execution_id = await submit(system.store, system.bus, ALIAS, body=body, message_id="m-r")
    execution = await wait_for_lines(system, execution_id, "Action selected: reset", count=2)

    assert execution["status"] == "COMPLETE", execution["error"]
    assert await storage.list_files(SYSTEM, ARCHIVE) == []
    assert [name for name, _ in await history(system)].count("reset") == 1


async def test_redelivered_reset_after_the_job_ran_again_keeps_the_new_outputs(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus=bus_backend)
    await add_job(system, state="FAILED")
    reset = json.dumps({"uuid": JOB, "name": "reset", "token": admin(system)}).encode()
    first = await system.wait(
        await submit(system.store, system.bus, ALIAS, body=reset, message_id="m-r")
    )
    assert first["status"] == "COMPLETE", first["error"]
    for event, presented in (("ready", admin(system)), ("run", token(system))):
        execution = await run(system, {"uuid": JOB, "name": event, "token": presented})
        assert execution["status"] == "COMPLETE", execution["error"]
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/new-run.csv", b"a,b\n")

    execution_id = await submit(system.store, system.bus, ALIAS, body=reset, message_id="m-r")
    execution = await wait_for_lines(system, execution_id, "Action selected: reset", count=2)

    assert execution["status"] == "COMPLETE", execution["error"]
    assert await storage.list_files(SYSTEM, ARCHIVE) == [f"{ARCHIVE}/new-run.csv"]
    assert [name for name, _ in await history(system)][-3:] == ["reset", "ready", "run"]
    assert execution["result"]["state"] == "RUNNING"
    assert execution["result"]["archive_path_emptied"] is False
    assert logged(
        execution,
        "INFO",
        f"Archive path of job {JOB} left as is: this reset was applied before and the job "
        "has moved on (state RUNNING)",
    )


def expired_admin(system: System) -> str:
    """An admin token issued long enough ago that it no longer verifies."""
    return system.admin_tokens.issue(time.time() - 10 * system.admin_tokens.lifetime)


async def applied_earlier(system: System, event: str, message_id: str) -> None:
    """The job as a first delivery of ``message_id`` left it when its ack was lost."""
    await record_job_event(system.store, JOB, event, {}, message_id=message_id, domain=DOMAIN)


async def test_redelivered_reset_and_ready_whose_admin_tokens_expired_are_answered(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus=bus_backend)
    await add_job(system, state="FAILED")
    stale = expired_admin(system)
    await applied_earlier(system, "reset", "m-reset")
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/left-over.csv", b"a,b\n")

    executions = []
    for event, message_id in (("reset", "m-reset"), ("ready", "m-ready")):
        if event == "ready":
            await applied_earlier(system, "ready", "m-ready")
        body = json.dumps({"uuid": JOB, "name": event, "token": stale}).encode()
        execution_id = await submit(
            system.store, system.bus, ALIAS, body=body, message_id=message_id
        )
        executions.append(await system.wait(execution_id))

    reset, ready = executions
    assert reset["status"] == "COMPLETE", reset["error"]
    assert logged(
        reset, "INFO", f"Job {JOB} reset was already recorded for this message; state RESET"
    )
    assert await storage.list_files(SYSTEM, ARCHIVE) == []  # cleared: it had not been yet
    assert ready["status"] == "COMPLETE", ready["error"]
    assert ready["result"] == {
        "uuid": JOB,
        "event": "ready",
        "state": "CREATED",
        "last_event": "ready",
    }
    assert [name for name, _ in await history(system)][-2:] == ["reset", "ready"]
    assert await system.bus.dead_letters(ALIAS) == []


async def test_a_new_reset_with_an_expired_admin_token_is_refused_and_nothing_written(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await add_job(system, state="FAILED")
    await storage.write_bytes(SYSTEM, f"{ARCHIVE}/out.csv", b"a,b\n")
    before = await job(system)

    execution = await run(system, {"uuid": JOB, "name": "reset", "token": expired_admin(system)})

    reason = await refused(system, execution)
    assert "a token that is not valid or has expired" in reason
    after = await job(system)
    assert (after.version, after.body) == (before.version, before.body)
    assert await storage.list_files(SYSTEM, ARCHIVE) == [f"{ARCHIVE}/out.csv"]


async def test_redelivered_finish_whose_admin_token_expired_sends_the_index_request_again(
    make_system: Any, bus_backend: str, storage: LocalStorage, indexer: IndexerRecorder
) -> None:
    system = await start(make_system, storage, indexer, bus=bus_backend)
    await add_job(system, archive_patterns=PATTERNS)
    await applied_earlier(system, "finish", "m-f")
    body = json.dumps({"uuid": JOB, "name": "finish", "token": expired_admin(system)}).encode()

    execution = await system.wait(
        await submit(system.store, system.bus, ALIAS, body=body, message_id="m-f")
    )

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["state"] == "FINISHED"
    received = await indexer_barrier(system, indexer)
    assert [(document["name"], document["level"]) for document in received] == [("index", "2")]
    assert indexer.received[0].message_id == follow_up_message_id("m-f", 1)
    assert [name for name, _ in await history(system)].count("finish") == 1


async def test_finish_sends_the_first_archive_pattern_to_the_indexer(
    make_system: Any, bus_backend: str, storage: LocalStorage, indexer: IndexerRecorder
) -> None:
    system = await start(make_system, storage, indexer, bus=bus_backend)
    await add_job(system, archive_patterns=PATTERNS)

    execution = await run(system, {"uuid": JOB, "name": "finish", "token": token(system)})

    assert execution["status"] == "COMPLETE", execution["error"]
    assert await indexer_barrier(system, indexer) == [
        {
            "uuid": JOB,
            "name": "index",
            "token": token(system),
            "level": "2",
            "filters": [r"\.png$"],
        }
    ]
    assert indexer.received[0].sender == "actor:jobs-manager"


async def test_finish_gets_the_job_indexed_by_the_real_indexer(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await make_system(actors=[JobsManager(storage=storage), JobsIndexer(storage=storage)])
    await add_job(system, archive_patterns=PATTERNS)
    for name in ("taco.png", "taco.csv"):
        await storage.write_bytes(SYSTEM, f"{ARCHIVE}/{name}", b"x")

    execution = await run(system, {"uuid": JOB, "name": "finish", "token": token(system)})

    indexed = await wait_for_execution(
        system, follow_up_message_id(follow_up_message_id(execution["message_id"], 1), 1)
    )
    assert indexed["status"] == "COMPLETE", indexed["error"]
    assert [name for name, _ in await history(system)] == [
        "create",
        "run",
        "finish",
        "index",
        "indexed",
    ]
    files = await system.store.find_files(generated_by=JOB)
    assert [(file["name"], file["level"]) for file in files] == [(f"{ARCHIVE}/taco.png", "2")]


async def test_finish_without_archive_patterns_or_with_auto_index_off_sends_nothing(
    make_system: Any, storage: LocalStorage, indexer: IndexerRecorder
) -> None:
    system = await start(make_system, storage, indexer, auto_index=False)
    await add_job(system, archive_patterns=PATTERNS)
    await add_job(system, uuid=typed_uuid("no patterns", UUIDType.PIPELINEJOB))

    for uuid in (JOB, typed_uuid("no patterns", UUIDType.PIPELINEJOB)):
        execution = await run(
            system, {"uuid": uuid, "name": "finish", "token": token(system, uuid)}
        )
        assert execution["status"] == "COMPLETE", execution["error"]

    assert await indexer_barrier(system, indexer) == []


async def test_redelivered_finish_sends_the_index_request_again(
    make_system: Any, storage: LocalStorage, indexer: IndexerRecorder
) -> None:
    system = await start(make_system, storage, indexer)
    await add_job(system, archive_patterns=PATTERNS)
    body = json.dumps({"uuid": JOB, "name": "finish", "token": token(system)}).encode()
    await system.wait(await submit(system.store, system.bus, ALIAS, body=body, message_id="m-f"))

    execution_id = await submit(system.store, system.bus, ALIAS, body=body, message_id="m-f")
    execution = await wait_for_lines(system, execution_id, f"Job {JOB} finish", count=2)

    assert execution["status"] == "COMPLETE", execution["error"]
    assert logged(
        execution, "INFO", f"Job {JOB} finish was already recorded for this message; state FINISHED"
    )
    received = await indexer_barrier(system, indexer)
    assert [document["name"] for document in received] == ["index", "index"]
    assert {message.message_id for message in indexer.received[:2]} == {
        follow_up_message_id("m-f", 1)
    }
    assert [name for name, _ in await history(system)].count("finish") == 1


async def test_index_and_indexed_events_are_forwarded_to_the_indexer(
    make_system: Any, storage: LocalStorage, indexer: IndexerRecorder
) -> None:
    system = await start(make_system, storage, indexer)
    await add_job(system, state="FINISHED")
    filters = ["sample.uw_biofab.141715", "sample-uw_biofab-141715"]

    index = await run(
        system, {"filters": filters}, uuid=JOB, level="2", token=token(system), name="index"
    )
    indexed = await run(system, {"uuid": JOB, "name": "indexed", "token": admin(system)})

    for execution, event in ((index, "index"), (indexed, "indexed")):
        assert execution["status"] == "COMPLETE", execution["error"]
        assert execution["result"]["forwarded_to"] == "jobs-indexer"
        assert execution["result"]["event"] == event
    assert await indexer_barrier(system, indexer) == [
        {"uuid": JOB, "name": "index", "token": token(system), "level": "2", "filters": filters},
        {"uuid": JOB, "name": "indexed", "token": token(system)},
    ]
    assert [name for name, _ in await history(system)] == ["create", "run", "finish"]


async def test_documented_index_request_sent_to_the_manager_is_forwarded(
    make_system: Any, bus_backend: str, storage: LocalStorage, indexer: IndexerRecorder
) -> None:
    system = await start(make_system, storage, indexer, bus=bus_backend)
    await add_job(system, state="FINISHED")
    request = {
        "uuid": JOB,
        "name": "index",
        "filters": ["sample%5C.uw_biofab%5C.141715", "sample-uw_biofab-141715"],
        "level": "2",
        "token": token(system),
    }

    execution = await run(system, request)

    assert execution["status"] == "COMPLETE", execution["error"]
    assert await indexer_barrier(system, indexer) == [request]


async def test_index_with_a_bad_level_is_refused_before_forwarding(
    make_system: Any, storage: LocalStorage, indexer: IndexerRecorder
) -> None:
    system = await start(make_system, storage, indexer)
    await add_job(system, state="FINISHED")

    execution = await run(system, {}, uuid=JOB, level="7", token=token(system), event="index")

    assert "$.level" in await refused(system, execution)
    assert await indexer_barrier(system, indexer) == []


@pytest.mark.parametrize(
    ("document", "context", "problem"),
    [
        ({}, {}, "message is not a job event the jobs-manager accepts"),
        ({"uuid": JOB}, {}, "'name' is a required property"),
        ({"uuid": JOB, "name": "finish", "extra": 1}, {}, "accepted forms"),
        ({"uuid": "not-a-uuid", "name": "finish"}, {}, "$.uuid"),
        ({"uuid": JOB, "name": "finish"}, {"event": "run"}, "give it in one place"),
        ({"uuid": JOB, "name": "finish"}, {"uuid": PIPELINE}, "give it in one place"),
        (AGAVE_JOB, {"token": "0123456789abcdef"}, "the uuid parameter is missing"),
        ({}, {"uuid": PIPELINE, "event": "finish"}, "expected a pipelinejob UUID"),
    ],
)
async def test_messages_that_fit_no_form_are_refused_naming_the_problem(
    make_system: Any,
    storage: LocalStorage,
    document: dict[str, Any],
    context: dict[str, str],
    problem: str,
) -> None:
    system = await start(make_system, storage)
    await add_job(system)

    execution = await run(system, document, **context)

    assert problem in await refused(system, execution)
    assert [name for name, _ in await history(system)] == ["create", "run"]


async def test_event_for_an_unknown_job_is_not_found(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    uuid = typed_uuid("never created", UUIDType.PIPELINEJOB)

    execution = await run(system, {"uuid": uuid, "name": "run", "token": token(system, uuid)})

    assert f"no job with uuid {uuid}" in await refused(system, execution)


async def test_create_action_makes_a_managed_job_for_an_authenticated_agent(
    make_system: Any, bus_backend: str, storage: LocalStorage
) -> None:
    system = await start(make_system, storage, bus=bus_backend)
    await load_catalog(system.store, json.loads(CATALOG.read_text()), domain=DOMAIN)
    await add_pipeline(system)
    request = {"action": "create", "pipeline_uuid": PIPELINE, "sample_id": "sample.tacc.abcde"}

    anonymous = await run(system, request, sender=None)
    created = await run(system, request, sender="user:agent")

    assert "needs an authenticated sender" in await refused(system, anonymous)
    assert created["status"] == "COMPLETE", created["error"]
    uuid = created["result"]["uuid"]
    assert created["result"]["token"] == token(system, uuid)
    assert logged(created, "DEBUG", "Action selected: create")
    assert [name for name, _ in await history(system, uuid)] == ["create"]

    run_event = await run(system, {"uuid": uuid, "name": "run", "token": token(system, uuid)})
    assert run_event["result"]["state"] == "RUNNING"


async def add_pipeline(system: System) -> None:
    assert await store_pipeline(system, COMPONENTS) == PIPELINE


async def wait_for_lines(
    system: System, execution_id: str, text: str, *, count: int
) -> dict[str, Any]:
    """The execution once ``count`` of its log lines contain ``text`` (one per delivery)."""
    deadline = time.monotonic() + WAIT_LIMIT
    while True:
        execution = await system.store.get_execution(execution_id)
        assert execution is not None
        lines = [line for line in execution["logs"] if text in line]
        if len(lines) >= count and execution["status"] in ("COMPLETE", "ERROR"):
            return execution
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} log lines with {text!r} not seen: {execution['logs']}")
        await asyncio.sleep(0.02)


async def wait_for_execution(system: System, message_id: str) -> dict[str, Any]:
    """The finished execution of a follow-up message, which exists once it is delivered."""
    execution_id = execution_id_for(message_id)
    deadline = time.monotonic() + WAIT_LIMIT
    while await system.store.get_execution(execution_id) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"follow-up {message_id} was never delivered")
        await asyncio.sleep(0.02)
    return await system.wait(execution_id)


class ReadCounter:
    """The store as a handler sees it, counting the documents it reads."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.reads: list[str] = []

    async def get_document(self, kind: Any, uuid: str, **options: Any) -> StoredDocument | None:
        self.reads.append(uuid)
        document: StoredDocument | None = await self._store.get_document(kind, uuid, **options)
        return document

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class CountedJobsManager(JobsManager):
    """The jobs-manager, its store reads counted per message."""

    def __init__(self, storage: LocalStorage) -> None:
        super().__init__(storage)
        self.reads: list[list[str]] = []

    async def handle(self, message: Message, ctx: ActorContext) -> Mapping[str, Any] | None:
        counter = ReadCounter(ctx.store)
        self.reads.append(counter.reads)
        ctx.store = counter
        return await super().handle(message, ctx)


async def test_an_event_reads_its_job_once_and_logs_the_state_it_found(
    make_system: Any, storage: LocalStorage
) -> None:
    manager = CountedJobsManager(storage)
    system = await make_system(actors=[manager])
    await add_job(system)

    execution = await run(system, {"uuid": JOB, "name": "finish", "token": token(system)})

    assert execution["status"] == "COMPLETE", execution["error"]
    assert manager.reads == [[JOB]]
    assert logged(execution, "INFO", f"Job {JOB} finish: RUNNING -> FINISHED")


async def test_a_recorded_event_names_the_job_it_was_applied_to(
    make_system: Any, storage: LocalStorage
) -> None:
    system = await start(make_system, storage)
    await add_job(system)

    first = await record_job_event(system.store, JOB, "finish", {}, message_id="m", domain=DOMAIN)
    again = await record_job_event(system.store, JOB, "finish", {}, message_id="m", domain=DOMAIN)

    assert first.applied
    assert (first.before.body["state"], first.document.body["state"]) == ("RUNNING", "FINISHED")
    assert first.document.version == first.before.version + 1
    assert not again.applied
    assert again.before == again.document
    assert again.document.body["state"] == "FINISHED"


@pytest.mark.parametrize("since_launch", [30, 2 * LAUNCH_SEARCH_PAGE + 30])
async def test_fail_finds_the_latest_launch_without_reading_the_whole_history(
    make_system: Any, storage: LocalStorage, monkeypatch: pytest.MonkeyPatch, since_launch: int
) -> None:
    """The launch is looked for from the end of the history, a page at a time, back to the
    page that holds it."""
    proxy = ProxyRecorder()
    system = await make_system(actors=[JobsManager(storage=storage), proxy])
    await add_job(system, state="CREATED")
    events = [("update", {"n": n}) for n in range(2 * LAUNCH_SEARCH_PAGE)]
    events += [("run", {"job_id": "compute-1"}), ("run", {"job_id": "compute-2"})]
    events += [("update", {"n": n}) for n in range(since_launch)]
    for number, (name, data) in enumerate(events):
        await record_job_event(
            system.store, JOB, name, data, message_id=f"m-{number}", domain=DOMAIN
        )
    read: list[int] = []
    read_events = system.store.read_events

    async def counted(kind: Any, uuid: str, **options: Any) -> Any:
        records = await read_events(kind, uuid, **options)
        read.extend(record.version for record in records)
        return records

    monkeypatch.setattr(system.store, "read_events", counted)

    execution = await run(system, {"uuid": JOB, "name": "fail", "token": token(system)})

    assert execution["status"] == "COMPLETE", execution["error"]
    assert execution["result"]["cancelling"] == "compute-2"
    await system.wait(execution_id_for(follow_up_message_id(execution["message_id"], 1)))
    assert [message.document["job_id"] for message in proxy.received] == ["compute-2"]
    history_length = (await job(system)).version
    assert history_length == 1 + len(events) + 1  # create, the events, fail
    launch = 1 + 2 * LAUNCH_SEARCH_PAGE + 2  # the version of the run that names compute-2
    pages = (history_length - launch) // LAUNCH_SEARCH_PAGE + 1
    first = history_length - pages * LAUNCH_SEARCH_PAGE + 1
    assert sorted(read) == list(range(first, history_length + 1))
